import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { csvImport } from './csv-import.js';
import { tickets } from './tickets.js';
import { timers } from './timers.js';
import { inspections } from './inspections.js';
import { funds } from './funds.js';
import { routes } from './routes.js';
import { scaling } from './scaling.js';
import { BENCH_DATABASE_URL, mib, postgresVersion, type Benchmark } from './scratch.js';

/**
 * `npm run bench`: runs every benchmark below in order and writes docs/BENCHMARKS.md.
 * `npm run bench -- tickets` (ids, space-separated) runs only those and replaces only their
 * sections, keeping the others' from the previous run.
 * To add one, write a module exporting a `Benchmark` (bench/scratch.ts) and list it here.
 */
const BENCHMARKS: Benchmark[] = [csvImport, tickets, timers, inspections, funds, routes, scaling];

const COMMAND = 'npm run bench';
const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs/BENCHMARKS.md');

function machine(pgVersion: string): string[] {
  const cpus = os.cpus();
  const models = [...new Set(cpus.map((c) => c.model.trim()))].join(' / ') || 'unknown';
  return [
    '| | |',
    '|---|---|',
    `| OS | ${os.type()} ${os.release()} (${os.platform()}/${os.arch()}) |`,
    `| CPU | ${models} × ${cpus.length} logical |`,
    `| Memory | ${mib(os.totalmem())} total |`,
    `| Node.js | ${process.version} |`,
    `| PostgreSQL | ${pgVersion} (server; \`BENCH_DATABASE_URL\` host ${new URL(BENCH_DATABASE_URL).host}, same machine) |`,
  ];
}

/** The `## ` sections of the current file by heading (the benchmarks' titles), to keep those not re-run. */
async function previousSections(): Promise<Map<string, string>> {
  const text = await readFile(OUT, 'utf8').catch(() => '');
  const sections = new Map<string, string>();
  for (const part of text.split(/^(?=## )/m).slice(1)) {
    const heading = part.slice(3, part.indexOf('\n')).trim();
    sections.set(heading, part.trimEnd());
  }
  return sections;
}

async function main() {
  const only = process.argv.slice(2);
  const unknown = only.filter((id) => !BENCHMARKS.some((b) => b.id === id));
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.id).join(', ')}`);
  const selected = only.length ? BENCHMARKS.filter((b) => only.includes(b.id)) : BENCHMARKS;
  const started = new Date();
  const t0 = performance.now();
  const log = (line: string) => console.log(line);
  const pgVersion = await postgresVersion();
  const previous = only.length ? await previousSections() : new Map<string, string>();
  const sections: string[] = [];
  /** Seconds per section: measured now, or read from the kept section's "_Took" line. */
  const durations: Array<{ id: string; seconds: number | undefined; now: boolean }> = [];
  for (const b of BENCHMARKS) {
    if (!selected.includes(b)) {
      // Not re-run: its section from the previous run, if there is one (titles can depend on env sizes).
      const kept = previous.get(b.title) ?? [...previous.entries()].find(([title]) => title.startsWith(b.title.replace(/\s*\(.*$/, '')))?.[1];
      if (kept) sections.push(kept);
      const took = kept ? /_Took ([\d.]+) s/.exec(kept)?.[1] : undefined;
      durations.push({ id: b.id, seconds: took === undefined ? undefined : Number(took), now: false });
      continue;
    }
    log(`== ${b.id}: ${b.title}`);
    const t = performance.now();
    const { markdown } = await b.run(log);
    const seconds = (performance.now() - t) / 1000;
    durations.push({ id: b.id, seconds, now: true });
    sections.push(`## ${b.title}\n\n${markdown}\n\n_Took ${seconds.toFixed(1)} s including setup; measured ${new Date().toISOString()}._`);
  }
  // The whole of `npm run bench` must stay under 30 minutes (issue 7): every section's time, summed.
  const known = durations.filter((d) => d.seconds !== undefined);
  const totalMin = known.reduce((a, d) => a + (d.seconds as number), 0) / 60;
  const timing = [
    '## Section durations',
    '',
    '| section | seconds | |',
    '|---|---:|---|',
    ...durations.map((d) => `| ${d.id} | ${d.seconds === undefined ? 'not run yet' : d.seconds.toFixed(1)} | ${d.now ? 'this run' : d.seconds === undefined ? '' : 'earlier run'} |`),
    `| **all sections** | **${(totalMin * 60).toFixed(0)}** (${totalMin.toFixed(1)} min${known.length < durations.length ? ', some not run yet' : ''}) | budget 30 min |`,
  ];
  log(`sections: ${durations.map((d) => `${d.id} ${d.seconds === undefined ? '?' : d.seconds.toFixed(0)} s`).join(', ')}; all ${totalMin.toFixed(1)} min`);
  if (totalMin > 30) log(`WARNING: the sections add up to ${totalMin.toFixed(1)} min, over the 30-minute budget`);
  const command = only.length ? `${COMMAND} -- ${only.join(' ')}` : COMMAND;
  const doc = [
    '# Benchmarks',
    '',
    `Generated by \`${command}\` (\`tsx bench/run.ts${only.length ? ` ${only.join(' ')}` : ''}\`) on ${started.toISOString()}; that run took ${((performance.now() - t0) / 1000).toFixed(1)} s` +
      (only.length ? ` and refreshed only ${selected.map((b) => `“${b.title}”`).join(', ')} (the other sections are from earlier runs, each dated).` : '.') +
      ' Figures are from one machine: compare them with each other, not across machines. Re-run to refresh this file.',
    '',
    '## Machine',
    '',
    ...machine(pgVersion),
    '',
    ...timing,
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
  await mkdir(path.dirname(OUT), { recursive: true });
  await writeFile(OUT, doc);
  log(`wrote ${path.relative(process.cwd(), OUT)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
