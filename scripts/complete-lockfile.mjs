// Some platform-specific optional packages (e.g. @msgpackr-extract/*-darwin-*) are not served by
// the registry mirror these machines use, so `npm install` writes a lock file without them and
// `npm ci` then refuses it ("Missing: … from lock file"). This adds a placeholder entry for each
// missing optional platform package: npm ci skips them anyway on a non-matching os/cpu.
// Run after any `npm install` that changes package-lock.json: `node scripts/complete-lockfile.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const platform = (name) => {
  const m = /-(darwin|linux|win32|freebsd|android)-(x64|arm64|arm|ia32|ppc64|s390x)(?:-\w+)?$/.exec(name);
  return m ? { os: [m[1]], cpu: [m[2]] } : null;
};
let added = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const target = `node_modules/${dep}`;
    if (lock.packages[target] || lock.packages[`${key}/${target}`]) continue;
    const p = platform(dep);
    if (!p) continue;
    lock.packages[target] = { version, ...p, optional: true, license: pkg.license ?? 'MIT' };
    added += 1;
  }
}
if (added > 0) {
  lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
}
console.log(`complete-lockfile: ${added} placeholder entr${added === 1 ? 'y' : 'ies'} added`);
