import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import type { Db } from '../src/db/index.js';
import { FACILITY_CATEGORIES } from '../src/db/types.js';
import { generateTasks, type GenerateResult } from '../src/modules/inspections/generator.js';
import { fmt, mib, scratchApp, type Benchmark } from './scratch.js';
import { envInt } from './child.js';

/**
 * Inspection task generation at scale (issue 6's benchmark). A scratch database is seeded in SQL
 * (INSERT … SELECT, not through the API) with BENCH_INSPECTION_COMMUNITIES communities (default
 * 1,000), each with 20 facilities, a property company holding the duty, and
 * BENCH_INSPECTION_PLANS plans (default 20: the five defaults, eleven more inspections by category
 * at monthly, weekly, quarterly and yearly rhythms, four weekly patrol routes), each plan started
 * on a different day of the past year. Then the generator (the hourly `inspections.generate` job's
 * code, src/modules/inspections/generator.ts) makes the next BENCH_INSPECTION_HORIZON_DAYS days
 * (default 30) of tasks with their timers and audit events, and runs a second time, which must
 * create nothing. Targets: first run under 10 s, second under 2 s.
 */


const COMMUNITIES = envInt('BENCH_INSPECTION_COMMUNITIES', 1_000);
const PLANS = envInt('BENCH_INSPECTION_PLANS', 20);
const HORIZON_DAYS = envInt('BENCH_INSPECTION_HORIZON_DAYS', 30);
const CONCURRENCY = envInt('BENCH_INSPECTION_CONCURRENCY', 2);
const BATCH = envInt('BENCH_INSPECTION_BATCH', 1_000);
const FIRST_TARGET_MS = 10_000;
const SECOND_TARGET_MS = 2_000;

interface PlanTemplate {
  name: string;
  kind: 'inspection' | 'patrol';
  category: string;
  /** Categories selected (inspections) or the route's stops by category, in order (patrols). */
  categories: string[];
  rrule: string;
  time: string;
  dueWindowMinutes: number;
}

const DAY_MIN = 1440;
/** The twenty plans of a community; more plans per community repeat them. */
const TEMPLATES: PlanTemplate[] = [
  { name: '监控摄像机与门禁月度巡检', kind: 'inspection', category: 'camera', categories: ['camera', 'access_control'], rrule: 'FREQ=MONTHLY;BYMONTHDAY=5', time: '09:00', dueWindowMinutes: 3 * DAY_MIN },
  { name: '消防设施月度检查', kind: 'inspection', category: 'fire_equipment', categories: ['fire_equipment'], rrule: 'FREQ=MONTHLY;BYMONTHDAY=10', time: '09:00', dueWindowMinutes: 3 * DAY_MIN },
  { name: '电梯半月维保检查', kind: 'inspection', category: 'elevator', categories: ['elevator'], rrule: 'FREQ=DAILY;INTERVAL=15', time: '09:00', dueWindowMinutes: 2 * DAY_MIN },
  { name: '消防给水压力月度检查', kind: 'inspection', category: 'hydrant_pressure', categories: ['hydrant_pressure'], rrule: 'FREQ=MONTHLY;BYMONTHDAY=15', time: '09:00', dueWindowMinutes: 3 * DAY_MIN },
  { name: '周界报警季度测试', kind: 'inspection', category: 'perimeter_alarm', categories: ['perimeter_alarm'], rrule: 'FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=20', time: '09:00', dueWindowMinutes: 7 * DAY_MIN },
  { name: '车辆道闸月检', kind: 'inspection', category: 'vehicle_barrier', categories: ['vehicle_barrier'], rrule: 'FREQ=MONTHLY;BYMONTHDAY=8', time: '10:00', dueWindowMinutes: 3 * DAY_MIN },
  { name: '人脸闸机月检', kind: 'inspection', category: 'face_gate', categories: ['face_gate'], rrule: 'FREQ=MONTHLY;BYMONTHDAY=12', time: '10:00', dueWindowMinutes: 3 * DAY_MIN },
  { name: '一键报警月检', kind: 'inspection', category: 'emergency_alarm', categories: ['emergency_alarm'], rrule: 'FREQ=MONTHLY;BYMONTHDAY=18', time: '10:00', dueWindowMinutes: 3 * DAY_MIN },
  { name: '烟感季度检测', kind: 'inspection', category: 'smoke_detector', categories: ['smoke_detector'], rrule: 'FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=25', time: '14:00', dueWindowMinutes: 7 * DAY_MIN },
  { name: '用电安全月末检查', kind: 'inspection', category: 'electrical_safety', categories: ['electrical_safety'], rrule: 'FREQ=MONTHLY;BYMONTHDAY=-1', time: '14:00', dueWindowMinutes: 2 * DAY_MIN },
  { name: '楼宇对讲月检', kind: 'inspection', category: 'intercom', categories: ['intercom'], rrule: 'FREQ=MONTHLY;BYMONTHDAY=22', time: '14:00', dueWindowMinutes: 3 * DAY_MIN },
  { name: '二次供水泵房周检', kind: 'inspection', category: 'water_pump', categories: ['water_pump'], rrule: 'FREQ=WEEKLY;BYDAY=MO', time: '08:30', dueWindowMinutes: DAY_MIN },
  { name: '排水设施月检', kind: 'inspection', category: 'drainage', categories: ['drainage'], rrule: 'FREQ=MONTHLY;BYMONTHDAY=1', time: '08:30', dueWindowMinutes: 5 * DAY_MIN },
  { name: '屋面季度检查', kind: 'inspection', category: 'roof', categories: ['roof'], rrule: 'FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=3', time: '09:00', dueWindowMinutes: 7 * DAY_MIN },
  { name: '外墙半年检查', kind: 'inspection', category: 'facade', categories: ['facade'], rrule: 'FREQ=YEARLY;BYMONTH=4,10;BYMONTHDAY=6', time: '09:00', dueWindowMinutes: 14 * DAY_MIN },
  { name: '公共照明周检', kind: 'inspection', category: 'lighting', categories: ['lighting'], rrule: 'FREQ=WEEKLY;BYDAY=FR', time: '19:00', dueWindowMinutes: DAY_MIN },
  { name: '夜间安防巡更（周一、周四）', kind: 'patrol', category: 'camera', categories: ['camera', 'access_control', 'face_gate', 'vehicle_barrier', 'perimeter_alarm'], rrule: 'FREQ=WEEKLY;BYDAY=MO,TH', time: '21:00', dueWindowMinutes: 180 },
  { name: '夜间安防巡更（周二、周五）', kind: 'patrol', category: 'camera', categories: ['perimeter_alarm', 'vehicle_barrier', 'face_gate', 'access_control', 'camera'], rrule: 'FREQ=WEEKLY;BYDAY=TU,FR', time: '21:00', dueWindowMinutes: 180 },
  { name: '设备机房巡查', kind: 'patrol', category: 'water_pump', categories: ['water_pump', 'electrical_safety', 'hydrant_pressure', 'fire_equipment'], rrule: 'FREQ=WEEKLY;BYDAY=WE', time: '10:00', dueWindowMinutes: 240 },
  { name: '周末消防巡查', kind: 'patrol', category: 'fire_equipment', categories: ['fire_equipment', 'smoke_detector', 'emergency_alarm', 'elevator'], rrule: 'FREQ=WEEKLY;BYDAY=SA,SU', time: '15:00', dueWindowMinutes: 240 },
];

const CHECKLIST = JSON.stringify([
  { id: 'works', text: '设备运行正常', severity: 'high' },
  { id: 'intact', text: '外观完好无损', severity: 'medium' },
  { id: 'records', text: '记录齐全', severity: 'low' },
]);

async function seed(db: Db): Promise<{ ms: number; plans: number; facilities: number }> {
  const t0 = performance.now();
  const plans = COMMUNITIES * PLANS;
  await db.connection().execute(async (conn) => {
    await sql`SET synchronous_commit = off`.execute(conn);
    await sql`
      CREATE TEMP TABLE bench_c AS
      SELECT n, gen_random_uuid() AS community_id, gen_random_uuid() AS company_id, gen_random_uuid() AS manager_id
      FROM generate_series(0, ${COMMUNITIES - 1}::int) AS n`.execute(conn);
    await sql`INSERT INTO communities (id, name, district, address, time_zone) SELECT community_id, '巡检基准小区' || n, '基准区' || (n % 20), NULL, 'Asia/Shanghai' FROM bench_c`.execute(conn);
    await sql`INSERT INTO organizations (id, kind, name) SELECT company_id, 'property_company', '物业公司' || n FROM bench_c`.execute(conn);
    await sql`
      INSERT INTO duty_assignments (community_id, organization_id, basis, facility_category, valid_from)
      SELECT community_id, company_id, 'service_contract', NULL, now() - interval '2 years' FROM bench_c`.execute(conn);
    await sql`INSERT INTO users (id, email, name, password_hash, locale) SELECT manager_id, 'insp-manager' || n || '@bench.upkeep.cn', '经理' || n, 'not-a-login', 'zh-CN' FROM bench_c`.execute(conn);
    await sql`INSERT INTO memberships (user_id, organization_id, role) SELECT manager_id, company_id, 'manager' FROM bench_c`.execute(conn);
    // Twenty facilities: one of each category, and two more cameras.
    const cats = [...FACILITY_CATEGORIES, 'camera', 'camera'];
    await sql`
      INSERT INTO facilities (community_id, category, name, qr_token)
      SELECT c.community_id, k.cat, k.cat || '-' || k.i, 'insp' || replace(gen_random_uuid()::text, '-', '')
      FROM bench_c c CROSS JOIN unnest(${cats}::text[]) WITH ORDINALITY AS k(cat, i)`.execute(conn);
    // Plans: each community's own start dates (days of the past year), routes from its facilities.
    const tpl = Array.from({ length: PLANS }, (_, i) => ({ ...(TEMPLATES[i % TEMPLATES.length] as PlanTemplate), i }));
    await sql`
      INSERT INTO inspection_plans (community_id, name, kind, category, categories, facility_ids, rrule, dtstart_local, time_zone, checklist,
                                    assignee_source, assignee_org_id, lead_time_minutes, due_window_minutes, escalate_after_minutes, next_occurrence_at)
      SELECT c.community_id, t.name, t.kind, t.category,
             CASE WHEN t.kind = 'inspection' THEN t.cats::text[] ELSE '{}' END,
             CASE WHEN t.kind = 'patrol' THEN ARRAY(
               SELECT f.id FROM facilities f WHERE f.community_id = c.community_id AND f.category = ANY(t.cats::text[])
               ORDER BY array_position(t.cats::text[], f.category::text), f.id) ELSE '{}' END,
             t.rrule,
             to_char((now() AT TIME ZONE 'Asia/Shanghai')::date - ((c.n * 37 + t.i * 11) % 365), 'YYYY-MM-DD') || 'T' || t.time,
             'Asia/Shanghai', ${CHECKLIST}::jsonb, 'duty_holder', c.company_id, 0, t.due, 2880, now()
      FROM bench_c c
      CROSS JOIN unnest(${tpl.map((p) => p.i)}::int[], ${tpl.map((p) => p.name)}::text[], ${tpl.map((p) => p.kind)}::text[], ${tpl.map((p) => p.category)}::text[],
                        ${tpl.map((p) => `{${p.categories.join(',')}}`)}::text[], ${tpl.map((p) => p.rrule)}::text[], ${tpl.map((p) => p.time)}::text[],
                        ${tpl.map((p) => p.dueWindowMinutes)}::int[]) AS t(i, name, kind, category, cats, rrule, time, due)`.execute(conn);
    await sql`
      INSERT INTO inspection_plan_versions (plan_id, version, snapshot)
      SELECT id, version, jsonb_build_object('rrule', rrule, 'checklist', checklist) FROM inspection_plans`.execute(conn);
    await sql`ANALYZE`.execute(conn);
  });
  const facilities = Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM facilities`.execute(db)).rows[0]?.n);
  return { ms: performance.now() - t0, plans, facilities };
}

async function counts(db: Db) {
  const r = await sql<{ tasks: number; timers: number; audits: number; patrols: number }>`
    SELECT (SELECT count(*)::int FROM inspection_tasks) AS tasks,
           (SELECT count(*)::int FROM inspection_tasks WHERE kind = 'patrol') AS patrols,
           (SELECT count(*)::int FROM timers WHERE kind LIKE 'inspection.%') AS timers,
           (SELECT count(*)::int FROM audit_events WHERE action = 'inspection_tasks.generated') AS audits`.execute(db);
  return r.rows[0] as { tasks: number; timers: number; audits: number; patrols: number };
}

const ok = (ms: number, target: number) => (ms < target ? `✓ under ${fmt(target / 1000)} s` : `✗ over ${fmt(target / 1000)} s`);

export const inspections: Benchmark = {
  id: 'inspections',
  title: `Inspection task generation (${fmt(COMMUNITIES)} communities × ${fmt(PLANS)} plans, ${HORIZON_DAYS} days)`,
  async run(log) {
    const loadBefore = os.loadavg();
    const s = await scratchApp();
    try {
      log(`inspections: scratch database ${s.dbName}; seeding ${fmt(COMMUNITIES)} communities × ${fmt(PLANS)} plans`);
      const seeded = await seed(s.db);
      log(`inspections: seeded ${fmt(seeded.plans)} plans and ${fmt(seeded.facilities)} facilities in ${fmt(seeded.ms / 1000, 1)} s`);

      const runs: Array<{ label: string; ms: number; r: GenerateResult; after: Awaited<ReturnType<typeof counts>>; rss: number; cpuMs: number }> = [];
      for (const label of ['first run (nothing generated yet)', 'second run (everything generated)']) {
        const t = performance.now();
        const cpu0 = process.cpuUsage();
        const r = await generateTasks(s.db, { horizonDays: HORIZON_DAYS, concurrency: CONCURRENCY, batchPlans: BATCH });
        const ms = performance.now() - t;
        const cpu = process.cpuUsage(cpu0);
        const after = await counts(s.db);
        runs.push({ label, ms, r, after, rss: process.memoryUsage().rss, cpuMs: (cpu.user + cpu.system) / 1000 });
        log(`inspections: ${label}: ${fmt(ms)} ms, ${fmt(r.tasks)} tasks, ${fmt(r.timers)} timers, ${fmt(r.plans)} plans looked at; phases ${JSON.stringify(Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, Math.round(v)])))}`);
      }
      const [first, second] = runs as [(typeof runs)[number], (typeof runs)[number]];
      if (second.r.tasks !== 0 || second.after.tasks !== first.after.tasks) throw new Error('the second run created tasks: generation is not idempotent');
      if (first.r.failedPlans > 0) throw new Error(`${first.r.failedPlans} plans failed`);
      // Same again with two runs at once on a fresh horizon: still nothing twice.
      const wider = HORIZON_DAYS + 7;
      const t2 = performance.now();
      const [a, b] = await Promise.all([
        generateTasks(s.db, { horizonDays: wider, concurrency: CONCURRENCY, batchPlans: BATCH }),
        generateTasks(s.db, { horizonDays: wider, concurrency: CONCURRENCY, batchPlans: BATCH }),
      ]);
      const concurrentMs = performance.now() - t2;
      const afterConcurrent = await counts(s.db);
      const dupes = Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM (SELECT 1 FROM inspection_tasks GROUP BY plan_id, occurrence_at HAVING count(*) > 1) d`.execute(s.db)).rows[0]?.n);
      if (dupes > 0 || afterConcurrent.tasks !== first.after.tasks + a.tasks + b.tasks) throw new Error('concurrent runs made duplicate tasks');
      const size = await sql<{ t: number; i: number }>`SELECT pg_total_relation_size('inspection_tasks')::bigint AS t, pg_indexes_size('inspection_tasks')::bigint AS i`.execute(s.db);

      const markdown = [
        `Seeded in SQL: ${fmt(COMMUNITIES)} communities (time zone Asia/Shanghai), each with a property company holding its duty, 20 facilities (one per category, two more cameras) and ${fmt(PLANS)} plans: the five defaults (cameras and access control, fire equipment, hydrant pressure monthly; elevators every 15 days; perimeter alarms quarterly), eleven more inspections by category (monthly on set days or the last day, weekly, quarterly, twice a year) and four weekly patrol routes of four or five stops, each plan started on its own day of the past year (${fmt(seeded.plans)} plans; seeding took ${fmt(seeded.ms / 1000, 1)} s).`,
        '',
        `Each run is one call of \`generateTasks\` (the hourly \`inspections.generate\` job's code) for the next ${HORIZON_DAYS} days: plans in batches of whole communities (about ${fmt(BATCH)} plans, ${CONCURRENCY} batches in flight, each one transaction): lock, RRULE occurrences in the community's zone, one \`INSERT … SELECT FROM unnest … ON CONFLICT DO NOTHING\` for the tasks, one for their timers (the first step of each task's reminder ladder: due tomorrow, or overdue when the due window is under a day; each step schedules the next when it fires), the plans' watermarks, one audit event per community.`,
        '',
        '| run | ms | plans looked at | tasks created | timers created | communities audited | tasks in table | timers in table | target |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---|',
        ...runs.map(
          (x, i) =>
            `| ${x.label} | ${fmt(x.ms)} | ${fmt(x.r.plans)} | ${fmt(x.r.tasks)} | ${fmt(x.r.timers)} | ${fmt(x.r.communities)} | ${fmt(x.after.tasks)} | ${fmt(x.after.timers)} | ${ok(x.ms, i === 0 ? FIRST_TARGET_MS : SECOND_TARGET_MS)} |`,
        ),
        `| two runs at once, horizon widened to ${wider} days | ${fmt(concurrentMs)} | ${fmt(a.plans + b.plans)} | ${fmt(a.tasks + b.tasks)} | ${fmt(a.timers + b.timers)} | ${fmt(a.communities + b.communities)} | ${fmt(afterConcurrent.tasks)} | ${fmt(afterConcurrent.timers)} | no (plan, occurrence) twice: ${dupes === 0 ? '✓' : '✗'} |`,
        '',
        `- First run: ${fmt(first.after.tasks)} tasks (${fmt(first.after.patrols)} of them patrols), ${fmt((first.after.tasks / first.ms) * 1000)} tasks/s; ${fmt(first.after.timers)} timers; ${fmt(first.after.audits)} audit events. The second run scans the plans' watermarks (next occurrence without a task), finds none inside the horizon and creates nothing.`,
        `- CPU time of this (Node.js) process during the first run: ${fmt(first.cpuMs)} ms (RRULE evaluation, building the statements); the rest of the wall time is PostgreSQL's work and waiting for a CPU.`,
        `- Where the first run's time went (ms summed over batches, which overlap ${CONCURRENCY} at a time): ${Object.entries(first.r.phases).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}. "lock" includes reading the plans with the facilities each covers; "occurrences" is the RRULE evaluation (from each plan's start moved forward by whole periods to just before the window, so plans with the same rule, phase and zone share one evaluation).`,
        `- inspection_tasks after the runs: ${mib(Number(size.rows[0]?.t))} with indexes (${mib(Number(size.rows[0]?.i))} of indexes). RSS after the first run ${mib(first.rss)}. Load average (1, 5, 15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(', ')}; after: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')} on ${os.cpus().length} logical CPUs (other work on the machine slows every figure).`,
        `- Sizes: BENCH_INSPECTION_COMMUNITIES, BENCH_INSPECTION_PLANS, BENCH_INSPECTION_HORIZON_DAYS; batching: BENCH_INSPECTION_BATCH, BENCH_INSPECTION_CONCURRENCY.`,
      ].join('\n');
      return { markdown };
    } finally {
      await s.close();
    }
  },
};
