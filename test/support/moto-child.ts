/**
 * A process that starts moto, prints moto's PID and waits: the orphan test kills this process with
 * SIGKILL (no exit handlers run) and checks that moto goes away by itself.
 */
import { startMoto } from '../../local/moto/moto-server.ts';

const moto = await startMoto({ callbackPort: 1 });
process.stdout.write(`${moto.pid}\n`);
setInterval(() => undefined, 60_000);
