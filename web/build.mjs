// Builds the web console into web/dist when it is missing or older than its sources, so that
// `npm start` serves it on a fresh clone with no extra step (`npm run build:web` forces a build).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const force = process.argv.includes('--force');

function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return readdirSync(path).reduce((m, name) => Math.max(m, newest(join(path, name))), 0);
}

const built = join(here, 'dist', 'index.html');
// The console also bundles the server's pure tally rules (src/modules/funds/tally.ts).
const sources = Math.max(newest(join(here, 'src')), newest(join(here, 'index.html')), newest(join(here, 'vite.config.ts')), newest(join(here, '../src/modules/funds/tally.ts')));
if (!force && existsSync(built) && statSync(built).mtimeMs >= sources) {
  console.log('web console: web/dist is up to date');
} else {
  let vite;
  try {
    vite = await import('vite');
  } catch {
    // A production install without dev dependencies: the API runs, the console answers 503.
    console.warn('web console: vite is not installed (npm install without --omit=dev builds it); serving the API only');
    process.exit(0);
  }
  console.log('web console: building web/dist …');
  await vite.build({ configFile: join(here, 'vite.config.ts'), logLevel: 'warn' });
  console.log('web console: built');
}
