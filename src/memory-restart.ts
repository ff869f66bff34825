import { setFlagsFromString } from 'node:v8';
import { memoryRestart, runtimeV8Flags } from './memory-settings.ts';

// Restarts the process in place with its engine's memory settings (see memory-settings.ts), where Node can
// (process.execve: Node 22.15+ and 24), then sets the V8 flags taken at run time (both engines).
// Imported first by server.ts.
type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;
const execve = (process as unknown as { execve?: Execve }).execve;
if (typeof execve === 'function') {
  const { env, platform, execArgv, argv, versions } = process;
  const restart = memoryRestart({ env, platform, execArgv, argv, v8Version: versions.v8 });
  if (restart) execve(process.execPath, [process.execPath, ...restart.args], restart.env);
}
for (const flag of runtimeV8Flags(process.execArgv)) setFlagsFromString(flag);
