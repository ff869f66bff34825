/**
 * The framework ceiling: Fastify 5 with nothing behind it, in its own process, as `npm start` runs
 * care360 (node --import tsx). `GET /empty` answers a constant; `POST /json` parses a JSON body (the
 * intake's) and answers a constant, so the cost of body parsing alone is visible too.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });
app.get('/empty', async () => ({ success: true }));
app.post('/json', async (request) => ({ success: true, received: typeof request.body === 'object' }));

const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.stdout.write(`framework ceiling listening at ${address}\n`);
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
