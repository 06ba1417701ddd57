/**
 * Email and in-app templates in zh-CN and en (pure: no I/O). Every value from users or the
 * database goes through escapeHtml in the HTML part; the text part is plain. Dates are shown in
 * the community's time zone.
 */

export type Locale = 'zh-CN' | 'en';

export interface Rendered {
  subject: string;
  text: string;
  html: string;
}

export interface RenderContext {
  locale: Locale;
  timeZone: string;
  recipientName: string;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/** Cents as yuan: 123456 → ¥1,234.56 (exact: integer arithmetic). */
export function yuan(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const whole = Math.trunc(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}¥${whole}.${String(abs % 100).padStart(2, '0')}`;
}

// Building a DateTimeFormat is costly (a vote's 20,000 notices built one each): one per locale and zone.
const dateTimeFormats = new Map<string, Intl.DateTimeFormat>();

export function formatDateTime(iso: string | Date, ctx: Pick<RenderContext, 'locale' | 'timeZone'>): string {
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  const key = `${ctx.locale}|${ctx.timeZone}`;
  let format = dateTimeFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(ctx.locale, {
      timeZone: ctx.timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      // h23, not hour12: false: with the latter, ICU writes midnight as "24:30" in en.
      hourCycle: 'h23',
      timeZoneName: 'short',
    });
    dateTimeFormats.set(key, format);
  }
  return format.format(date);
}

function layout(ctx: RenderContext, title: string, paragraphs: string[], list?: string[]): string {
  const greeting = ctx.locale === 'zh-CN' ? `${escapeHtml(ctx.recipientName)}，您好：` : `Hello ${escapeHtml(ctx.recipientName)},`;
  const footer = ctx.locale === 'zh-CN' ? '此邮件由 Upkeep 小区设施维护系统自动发送。' : 'Sent automatically by Upkeep, community facility maintenance.';
  const items = list && list.length ? `<ul>${list.map((i) => `<li>${i}</li>`).join('')}</ul>` : '';
  return `<!doctype html><html lang="${ctx.locale}"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body style="font-family:sans-serif"><p>${greeting}</p>${paragraphs.map((p) => `<p>${p}</p>`).join('')}${items}<p style="color:#888;font-size:12px">${footer}</p></body></html>`;
}

function textLayout(ctx: RenderContext, paragraphs: string[], list?: string[]): string {
  const greeting = ctx.locale === 'zh-CN' ? `${ctx.recipientName}，您好：` : `Hello ${ctx.recipientName},`;
  const footer = ctx.locale === 'zh-CN' ? '此邮件由 Upkeep 小区设施维护系统自动发送。' : 'Sent automatically by Upkeep, community facility maintenance.';
  return [greeting, '', ...paragraphs, ...(list && list.length ? ['', ...list.map((l) => `- ${l}`)] : []), '', footer].join('\n');
}

export interface TemplatePayloads {
  'duty.contract_ending': { communityName: string; organizationName: string; validTo: string; daysBefore: number; category: string | null };
  'digest.daily': {
    communityName: string;
    day: string;
    faultyFacilities: Array<{ name: string; category: string; status: string }>;
    endingDuties: Array<{ organizationName: string; validTo: string }>;
  };
  'audit.chain_broken': { communityName: string; firstBrokenSeq: number; problem: string };
  /** A ticket's SLA ladder: warning, breach, escalation to the committee or the authority. */
  'ticket.sla': {
    stage: 'warning' | 'breach' | 'escalate-committee' | 'escalate-authority';
    target: 'response' | 'resolution';
    communityName: string;
    ticketRef: number;
    title: string;
    priority: string;
    dueAt: string;
  };
  /** To the reporter: the ticket is resolved; confirm or reopen. */
  'ticket.resolved': { communityName: string; ticketRef: number; title: string; autoCloseHours: number };
  'fund.vote_opened': { communityName: string; requestRef: number; title: string; decisionType: string; budgetCents: number; closesAt: string };
  'fund.vote_closing': { communityName: string; requestRef: number; title: string; closesAt: string; daysBefore: number };
  'fund.vote_result': { communityName: string; requestRef: number; title: string; outcome: 'passed' | 'rejected' | 'no_quorum'; participatingHeadcount: number; totalHeadcount: number; agreeHeadcount: number };
  'fund.approval_pending': { communityName: string; requestRef: number; title: string; path: 'normal' | 'emergency'; noticeEndsAt: string | null };
  'fund.settled': { communityName: string; requestRef: number; title: string; actualCostCents: number; fundShareCents: number; units: number };
  'fund.top_up': { communityName: string; requestRef: number };
  'fund.emergency_notice_due': { communityName: string; requestRef: number; title: string; reminder: number };
  /** Free text from a person (e.g. a committee announcement): everything escaped. */
  'message.plain': { title: string; body: string };
  /** An inspection task: due tomorrow (assignee), overdue (assignee and managers), escalated (committee). */
  'inspection.reminder': {
    stage: 'due-tomorrow' | 'overdue' | 'escalate';
    communityName: string;
    planName: string;
    kind: 'inspection' | 'patrol';
    dueAt: string;
    facilities: number;
    done: number;
  };
}

export type TemplateName = keyof TemplatePayloads;

type Renderer<T> = (p: T, ctx: RenderContext) => Rendered;

const templates: { [K in TemplateName]: Renderer<TemplatePayloads[K]> } = {
  'duty.contract_ending': (p, ctx) => {
    const when = formatDateTime(p.validTo, ctx);
    if (ctx.locale === 'zh-CN') {
      const subject = `【${p.communityName}】维保责任合同将于 ${p.daysBefore} 天后到期`;
      const line = `${p.organizationName} 对 ${p.communityName}${p.category ? `（${p.category}）` : ''} 的维保责任将于 ${when} 到期，请及时续签或安排接替单位，避免出现责任空档。`;
      return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
    }
    const subject = `[${p.communityName}] Upkeep duty contract ends in ${p.daysBefore} days`;
    const line = `The duty of ${p.organizationName} for ${p.communityName}${p.category ? ` (${p.category})` : ''} ends on ${when}. Renew it or arrange a successor so that no duty gap opens.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'digest.daily': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const subject = zh ? `【${p.communityName}】${p.day} 待办汇总` : `[${p.communityName}] Open work for ${p.day}`;
    const facilities = p.faultyFacilities.map((f) => `${f.name} (${f.category}): ${f.status}`);
    const duties = p.endingDuties.map((d) => (zh ? `${d.organizationName} 的责任于 ${formatDateTime(d.validTo, ctx)} 到期` : `${d.organizationName}'s duty ends ${formatDateTime(d.validTo, ctx)}`));
    const intro = zh
      ? `${p.communityName} 当前有 ${p.faultyFacilities.length} 项设施未恢复正常，${p.endingDuties.length} 项责任合同即将到期。`
      : `${p.communityName} has ${p.faultyFacilities.length} facilities not back in service and ${p.endingDuties.length} duty contracts ending soon.`;
    const lines = [...facilities, ...duties];
    return { subject, text: textLayout(ctx, [intro], lines), html: layout(ctx, subject, [escapeHtml(intro)], lines.map(escapeHtml)) };
  },
  'audit.chain_broken': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const subject = zh ? `【${p.communityName}】审计链校验失败` : `[${p.communityName}] Audit chain verification failed`;
    const line = zh
      ? `夜间校验发现 ${p.communityName} 的审计记录链在第 ${p.firstBrokenSeq} 条处断开：${p.problem}。请立即核查。`
      : `The nightly check found ${p.communityName}'s audit chain broken at event ${p.firstBrokenSeq}: ${p.problem}. Investigate now.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'ticket.sla': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const due = formatDateTime(p.dueAt, ctx);
    const targetZh = p.target === 'response' ? '响应' : '处理完成';
    const stageZh = { warning: '即将超时', breach: '已超时', 'escalate-committee': '超时未处理，已升级至业主委员会', 'escalate-authority': '超时未处理，已升级至主管部门' }[p.stage];
    const stageEn = { warning: 'is about to breach', breach: 'has breached', 'escalate-committee': 'is still breached and escalated to the owners’ committee', 'escalate-authority': 'is still breached and escalated to the authority' }[p.stage];
    const subject = zh ? `【${p.communityName}】工单 #${p.ticketRef} ${targetZh}${stageZh}` : `[${p.communityName}] Ticket #${p.ticketRef}: ${p.target} target ${stageEn}`;
    const line = zh
      ? `工单 #${p.ticketRef}「${p.title}」（${p.priority}）的${targetZh}时限为 ${due}，目前${stageZh}。请立即处理。`
      : `Ticket #${p.ticketRef} "${p.title}" (${p.priority}): the ${p.target} target of ${due} ${stageEn}. Act now.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'ticket.resolved': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const subject = zh ? `【${p.communityName}】您报修的工单 #${p.ticketRef} 已处理完成` : `[${p.communityName}] Your ticket #${p.ticketRef} is resolved`;
    const line = zh
      ? `您报修的「${p.title}」已处理完成。请确认；如问题仍在，可重新打开。${p.autoCloseHours} 小时内未确认将自动关闭。`
      : `"${p.title}" has been resolved. Please confirm, or reopen it if the problem remains. It closes itself after ${p.autoCloseHours} hours without an answer.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'fund.vote_opened': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const subject = zh ? `【${p.communityName}】维修资金使用表决已开始：#${p.requestRef} ${p.title}` : `[${p.communityName}] Maintenance fund vote open: #${p.requestRef} ${p.title}`;
    const line = zh
      ? `「${p.title}」预算 ${yuan(p.budgetCents)}，表决截止 ${formatDateTime(p.closesAt, ctx)}。请登录 Upkeep 表决（同意 / 反对 / 弃权）。`
      : `"${p.title}", budget ${yuan(p.budgetCents)}, is open for your vote until ${formatDateTime(p.closesAt, ctx)}. Log in to Upkeep to vote (agree / disagree / abstain).`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'fund.vote_closing': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const subject = zh ? `【${p.communityName}】表决将于 ${p.daysBefore} 天后截止：#${p.requestRef}` : `[${p.communityName}] Vote #${p.requestRef} closes in ${p.daysBefore} day(s)`;
    const line = zh ? `您尚未对「${p.title}」表决，截止时间 ${formatDateTime(p.closesAt, ctx)}。` : `You have not voted on "${p.title}" yet; the vote closes ${formatDateTime(p.closesAt, ctx)}.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'fund.vote_result': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const outcomeZh = { passed: '通过', rejected: '未通过', no_quorum: '参与人数或面积未达三分之二，表决无效' }[p.outcome];
    const outcomeEn = { passed: 'passed', rejected: 'was rejected', no_quorum: 'failed: participation below two thirds' }[p.outcome];
    const subject = zh ? `【${p.communityName}】表决结果：#${p.requestRef} ${outcomeZh}` : `[${p.communityName}] Vote #${p.requestRef} ${outcomeEn}`;
    const line = zh
      ? `「${p.title}」表决结束：${outcomeZh}。参与 ${p.participatingHeadcount}/${p.totalHeadcount} 人，同意 ${p.agreeHeadcount} 人。完整计票见公示页。`
      : `The vote on "${p.title}" ${outcomeEn}: ${p.participatingHeadcount} of ${p.totalHeadcount} voted, ${p.agreeHeadcount} agreed. The full tally is on the notice page.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'fund.approval_pending': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const subject = zh ? `【${p.communityName}】待审批：#${p.requestRef} ${p.title}` : `[${p.communityName}] Approval pending: #${p.requestRef} ${p.title}`;
    const when = p.noticeEndsAt ? formatDateTime(p.noticeEndsAt, ctx) : null;
    const line = zh
      ? p.path === 'emergency' ? `紧急维修「${p.title}」待审核。` : `「${p.title}」已表决通过，公示期至 ${when}，公示结束后请审批。`
      : p.path === 'emergency' ? `Emergency repair "${p.title}" awaits review.` : `"${p.title}" passed the owners' vote; its public notice runs until ${when}. Approve it after the notice ends.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'fund.settled': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const subject = zh ? `【${p.communityName}】维修资金使用结算公示：#${p.requestRef}` : `[${p.communityName}] Maintenance fund settlement published: #${p.requestRef}`;
    const line = zh
      ? `「${p.title}」实际费用 ${yuan(p.actualCostCents)}，其中维修资金分摊 ${yuan(p.fundShareCents)}，已按专有面积分摊至 ${p.units} 户并记入分户账。`
      : `"${p.title}" cost ${yuan(p.actualCostCents)}; the fund's share of ${yuan(p.fundShareCents)} was apportioned by area across ${p.units} units and debited to their ledgers.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'fund.top_up': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const subject = zh ? `【${p.communityName}】请续交住宅专项维修资金` : `[${p.communityName}] Please top up your maintenance fund account`;
    const line = zh
      ? `分摊 #${p.requestRef} 后，您名下房屋的维修资金余额已不足首期交存额的 30%，请按规定续交。`
      : `After request #${p.requestRef}, your unit's maintenance fund balance is below 30% of its first deposit; please top it up as the rules require.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'fund.emergency_notice_due': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const subject = zh ? `【${p.communityName}】紧急维修 #${p.requestRef} 尚未事后公示（第 ${p.reminder} 次提醒）` : `[${p.communityName}] Emergency repair #${p.requestRef} not yet publicly noticed (reminder ${p.reminder})`;
    const line = zh
      ? `紧急使用维修资金「${p.title}」须事后向业主公示。公示前无法结算。`
      : `The emergency use of the fund for "${p.title}" must be publicly noticed to the owners after the fact; it cannot be settled until it is.`;
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'inspection.reminder': (p, ctx) => {
    const zh = ctx.locale === 'zh-CN';
    const due = formatDateTime(p.dueAt, ctx);
    const what = zh ? (p.kind === 'patrol' ? '巡更' : '巡检') : p.kind === 'patrol' ? 'patrol' : 'inspection';
    const progress = zh ? `已完成 ${p.done}/${p.facilities} 项` : `${p.done} of ${p.facilities} done`;
    let subject: string;
    let line: string;
    if (p.stage === 'due-tomorrow') {
      subject = zh ? `【${p.communityName}】${what}任务「${p.planName}」将于明天到期` : `[${p.communityName}] The ${what} "${p.planName}" is due tomorrow`;
      line = zh ? `${what}任务「${p.planName}」须在 ${due} 前完成（${progress}）。` : `The ${what} "${p.planName}" must be done by ${due} (${progress}).`;
    } else if (p.stage === 'overdue') {
      subject = zh ? `【${p.communityName}】${what}任务「${p.planName}」已逾期` : `[${p.communityName}] The ${what} "${p.planName}" is overdue`;
      line = zh
        ? `${what}任务「${p.planName}」应于 ${due} 前完成，目前未完成（${progress}），已记为逾期。请尽快完成并记录结果。`
        : `The ${what} "${p.planName}" was due by ${due} and is not done (${progress}); it is recorded as missed. Complete it and record the results now.`;
    } else {
      subject = zh ? `【${p.communityName}】${what}任务「${p.planName}」逾期未完成，已升级至业主委员会` : `[${p.communityName}] The ${what} "${p.planName}" is still not done: escalated to the owners' committee`;
      line = zh
        ? `${what}任务「${p.planName}」应于 ${due} 前完成，逾期后仍未完成（${progress}）。此记录可作为责任单位履职情况的依据。`
        : `The ${what} "${p.planName}" was due by ${due} and is still not done (${progress}). This record is evidence of how the duty holder performs its duty.`;
    }
    return { subject, text: textLayout(ctx, [line]), html: layout(ctx, subject, [escapeHtml(line)]) };
  },
  'message.plain': (p, ctx) => ({
    subject: p.title,
    text: textLayout(ctx, [p.body]),
    html: layout(ctx, p.title, p.body.split(/\n{2,}/).map((para) => escapeHtml(para).replace(/\n/g, '<br>'))),
  }),
};

export function render<K extends TemplateName>(name: K, payload: TemplatePayloads[K], ctx: RenderContext): Rendered {
  const renderer = templates[name] as Renderer<TemplatePayloads[K]> | undefined;
  if (!renderer) throw new Error(`unknown template "${name}"`);
  return renderer(payload, ctx);
}
