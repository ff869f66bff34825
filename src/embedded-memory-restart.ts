import { embeddedMemoryRestart } from './embedded-memory.ts';

// Restarts the process in place with the embedded engine's memory settings (see embedded-memory.ts), where
// Node can (process.execve: Node 22.15+ and 24). Imported first by server.ts.
type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;
const execve = (process as unknown as { execve?: Execve }).execve;
if (typeof execve === 'function') {
  const restart = embeddedMemoryRestart(process);
  if (restart) execve(process.execPath, [process.execPath, ...restart.args], restart.env);
}
