// API entry point: `npm run start:api`. Workers run separately (`npm run start:workers`).
import { runMain } from './bootstrap/start.js';

await runMain({ api: true });
