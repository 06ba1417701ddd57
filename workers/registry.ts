import { UnrecoverableError } from 'bullmq';
import type { Logger } from 'pino';
import type { Db } from '../src/db/index.js';
import type { JobName, JobPayloads } from '../src/jobs/jobs.js';
import type { UpkeepQueue } from '../src/jobs/queue.js';
import type { Config } from '../src/config.js';
import { handleVerifyAll, handleVerifyChain } from '../src/modules/audit/audit.jobs.js';
import type { EmailChannel } from '../src/modules/notifications/channels.js';
import type { EmailSender } from '../src/modules/notifications/notifications.service.js';
import { handleDigestCommunity, handleDigestTick, handleSend } from '../src/modules/notifications/notifications.jobs.js';
import type { RelayQueues } from '../src/modules/timers/relay.js';
import { handleReconcile, handleTimerFire, type FiringMemo, type TimerBatchHandlers, type TimerHandlers } from '../src/modules/timers/timers.jobs.js';
import { onContractEnding, onContractEndingMany } from '../src/modules/duties/duties.timers.js';
import { onAutoClose, onSlaTimer } from '../src/modules/tickets/tickets.timers.js';
import { onEmergencyNotice, onNoticeEnd, onSettledNotify, onVoteClose, onVoteClosingSoon } from '../src/modules/funds/funds.timers.js';
import { onInspectionTimer } from '../src/modules/inspections/inspections.timers.js';
import { handleGenerate } from '../src/modules/inspections/inspections.jobs.js';

/** What every handler gets besides its payload. */
export interface JobContext {
  db: Db;
  /** For handlers that enqueue further jobs (fan-out). */
  queue: UpkeepQueue;
  /** Already bound to the job's id and name. */
  logger: Logger;
  job: { id: string | undefined; name: string; attemptsMade: number };
  /** The rate-limited queue emails go through. */
  emailQueue: UpkeepQueue;
  channel: EmailChannel;
  config: Config;
  timerHandlers: TimerHandlers;
  relayQueues: RelayQueues;
  /** Kinds fired in batches, and what this process's firings know (src/modules/timers/timers.jobs.ts). */
  timerBatchHandlers?: TimerBatchHandlers;
  firingMemo?: FiringMemo;
  /** Lets the email jobs running together share a claim (src/modules/notifications/notifications.service.ts). */
  emailSender?: EmailSender;
}

/**
 * One handler per timer kind (src/modules/timers/kinds.ts): a kind without a handler does not
 * compile. Each runs inside the transaction that marks its timer fired.
 */
export function createTimerHandlers(): TimerHandlers {
  return {
    'duty.contract-ending': onContractEnding,
    'sla.warning': onSlaTimer,
    'sla.breach': onSlaTimer,
    'sla.escalate-committee': onSlaTimer,
    'sla.escalate-authority': onSlaTimer,
    'ticket.auto-close': onAutoClose,
    'fund.vote-close': onVoteClose,
    'fund.vote-closing-soon': onVoteClosingSoon,
    'fund.notice-end': onNoticeEnd,
    'fund.emergency-notice': onEmergencyNotice,
    'fund.settled-notify': onSettledNotify,
    'inspection.due-tomorrow': onInspectionTimer,
    'inspection.overdue': onInspectionTimer,
    'inspection.escalate': onInspectionTimer,
  };
}

/**
 * Kinds whose due timers are fired many per transaction (set-based handlers): the ones that fall
 * due in bulk. The rest fire one job at a time through their handler above.
 */
export function createTimerBatchHandlers(): TimerBatchHandlers {
  return {
    'duty.contract-ending': onContractEndingMany,
  };
}

/** One handler per job name in src/jobs/jobs.ts, typed by that name's payload. */
export type JobHandlers = { [N in JobName]: (data: JobPayloads[N], ctx: JobContext) => Promise<void> };

/**
 * The registry. The return type makes a job without a handler a compile error (and a handler
 * for a job that does not exist an excess-property error). Dependencies a handler needs
 * beyond JobContext (a mailer, say) are passed here.
 */
export function createHandlers(): JobHandlers {
  return {
    'audit.verify-all': handleVerifyAll,
    'audit.verify-chain': handleVerifyChain,
    'timer.fire': handleTimerFire,
    'timers.reconcile': handleReconcile,
    'notification.send': handleSend,
    'digest.tick': handleDigestTick,
    'digest.community': handleDigestCommunity,
    'inspections.generate': handleGenerate,
  };
}

export function isJobName(handlers: JobHandlers, name: string): name is JobName {
  return Object.hasOwn(handlers, name);
}

function run<N extends JobName>(handlers: JobHandlers, name: N, data: JobPayloads[N], ctx: JobContext): Promise<void> {
  return handlers[name](data, ctx);
}

/**
 * Runs a job's handler. A name without a handler (a job left in Redis by another version)
 * fails at once, without retries: retrying cannot make a handler appear.
 */
export async function dispatch(handlers: JobHandlers, job: { name: string; data: unknown }, ctx: JobContext): Promise<void> {
  if (!isJobName(handlers, job.name)) {
    throw new UnrecoverableError(`no handler for job "${job.name}"`);
  }
  // The payload was typed at enqueue (src/jobs/queue.ts enqueue); Redis hands back its JSON.
  await run(handlers, job.name, job.data as JobPayloads[typeof job.name], ctx);
}
