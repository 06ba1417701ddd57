// `npm start`: the API and the workers in one process — what a newcomer and a single
// community's closed-loop deployment run. With no configuration PostgreSQL is embedded.
import { runMain } from './bootstrap/start.js';
import { startWorkers } from '../workers/worker.js';

await runMain({ api: true, workers: startWorkers });
