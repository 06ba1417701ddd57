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

export function formatDateTime(iso: string | Date, ctx: Pick<RenderContext, 'locale' | 'timeZone'>): string {
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  return new Intl.DateTimeFormat(ctx.locale, {
    timeZone: ctx.timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
    timeZoneName: 'short',
  }).format(date);
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
  /** Free text from a person (e.g. a committee announcement): everything escaped. */
  'message.plain': { title: string; body: string };
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
