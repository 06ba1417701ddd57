// The worker process: `npm run start:workers`. SIGTERM or SIGINT stops it gracefully (running
// jobs finish); a second signal exits at once and BullMQ hands interrupted jobs back to the
// queue when their locks lapse. `npm start` runs these workers inside the API process instead.
import { runMain } from '../src/bootstrap/start.js';
import { startWorkers } from './worker.js';

await runMain({ api: false, workers: startWorkers });
