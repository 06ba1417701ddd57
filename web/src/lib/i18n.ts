import { ApiError } from './api.js';

export type Lang = 'zh-CN' | 'en';
const KEY = 'upkeep.lang';

export let lang: Lang = localStorage.getItem(KEY) === 'en' ? 'en' : 'zh-CN';
const listeners = new Set<() => void>();

export function setLang(l: Lang): void {
  lang = l;
  localStorage.setItem(KEY, l);
  document.documentElement.lang = l;
  for (const fn of listeners) fn();
}
export function onLang(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
document.documentElement.lang = lang;

// [zh-CN, en]
const M = {
  appName: ['Upkeep 社区维保', 'Upkeep'],
  login: ['登录', 'Log in'],
  logout: ['退出', 'Log out'],
  email: ['邮箱', 'Email'],
  password: ['密码', 'Password'],
  loginHint: ['演示账号：manager@demo.upkeep.cn 等，密码 upkeep-demo-2026', 'Demo accounts: manager@demo.upkeep.cn etc., password upkeep-demo-2026'],
  switchLang: ['English', '中文'],
  loading: ['加载中…', 'Loading…'],
  save: ['保存', 'Save'],
  submit: ['提交', 'Submit'],
  cancel: ['取消', 'Cancel'],
  retry: ['重试', 'Try again'],
  prev: ['上一页', 'Previous'],
  next: ['下一页', 'Next'],
  page: ['第 {n} 页', 'Page {n}'],
  none: ['暂无', 'None'],
  all: ['全部', 'All'],
  print: ['打印', 'Print'],
  back: ['返回', 'Back'],
  community: ['小区', 'Community'],
  home: ['首页', 'Home'],
  hello: ['您好，{name}', 'Hello, {name}'],
  yourRoles: ['您的身份', 'Your roles'],
  // roles
  role_admin: ['平台管理员', 'Platform admin'],
  role_staff: ['物业人员', 'Property staff'],
  role_committee: ['业委会', "Owners' committee"],
  role_contractor: ['维保单位', 'Contractor'],
  role_authority: ['主管部门', 'Authority'],
  role_owner: ['业主', 'Owner'],
  // nav
  nav_dashboard: ['数据看板', 'Dashboard'],
  nav_tickets: ['工单', 'Tickets'],
  nav_facilities: ['设施', 'Facilities'],
  nav_duties: ['维保责任', 'Duties'],
  nav_inspections: ['巡检日历', 'Inspections'],
  nav_funds: ['维修资金', 'Fund requests'],
  nav_myTickets: ['我的报修', 'My tickets'],
  nav_report: ['我要报修', 'Report a fault'],
  nav_ballots: ['我的表决', 'My ballots'],
  nav_ledger: ['我的资金账户', 'My fund ledger'],
  nav_authority: ['辖区监管', 'District'],
  // tickets
  tickets: ['工单', 'Tickets'],
  ticket: ['工单', 'Ticket'],
  title: ['标题', 'Title'],
  description: ['描述', 'Description'],
  category: ['类别', 'Category'],
  priority: ['优先级', 'Priority'],
  status: ['状态', 'Status'],
  overdueOnly: ['仅看超时', 'Overdue only'],
  search: ['搜索', 'Search'],
  sortBy: ['排序', 'Sort'],
  sort_created: ['最新', 'Newest'],
  sort_due: ['最紧急', 'Due first'],
  openedAt: ['报修时间', 'Opened'],
  reporter: ['报修人', 'Reporter'],
  assignee: ['处理人', 'Assignee'],
  assign: ['指派', 'Assign'],
  unassigned: ['未指派', 'Unassigned'],
  facility: ['设施', 'Facility'],
  comments: ['评论', 'Comments'],
  addComment: ['添加评论', 'Add comment'],
  internal: ['仅内部可见', 'Internal only'],
  attachments: ['附件与照片', 'Photos and files'],
  upload: ['上传', 'Upload'],
  uploaded: ['已上传', 'Uploaded'],
  moves: ['下一步', 'Next steps'],
  reason: ['原因', 'Reason'],
  reasonRequired: ['请填写原因', 'Please give a reason'],
  slaResponse: ['响应时限', 'Response target'],
  slaResolution: ['解决时限', 'Resolution target'],
  sla_running: ['计时中', 'running'],
  sla_paused: ['已暂停', 'paused'],
  sla_met: ['已达成', 'met'],
  sla_breached: ['已超时', 'breached'],
  remaining: ['剩余 {d}', '{d} left'],
  overdueBy: ['超时 {d}', '{d} overdue'],
  noTickets: ['没有符合条件的工单', 'No tickets match'],
  liveCounts: ['实时统计（每 20 秒刷新）', 'Live counts (refreshed every 20 s)'],
  holdReason: ['挂起原因', 'Hold reason'],
  hold_awaiting_parts: ['等待配件', 'Awaiting parts'],
  hold_awaiting_access: ['等待入户', 'Awaiting access'],
  hold_awaiting_funds: ['等待资金', 'Awaiting funds'],
  reportFault: ['报修', 'Report a fault'],
  reported: ['已提交，工单号 #{ref}', 'Submitted: ticket #{ref}'],
  rate: ['评价', 'Rate'],
  rateThanks: ['感谢评价：{n} 星', 'Thank you: {n} stars'],
  notFoundPage: ['页面不存在', 'This page does not exist'],
  // statuses
  st_new: ['新建', 'New'],
  st_acknowledged: ['已受理', 'Acknowledged'],
  st_in_progress: ['处理中', 'In progress'],
  st_on_hold: ['挂起', 'On hold'],
  st_resolved: ['已解决', 'Resolved'],
  st_reopened: ['已重开', 'Reopened'],
  st_closed: ['已关闭', 'Closed'],
  st_cancelled: ['已取消', 'Cancelled'],
  st_open: ['未完结', 'Open'],
  mv_acknowledged: ['受理', 'Acknowledge'],
  mv_in_progress: ['开始处理', 'Start work'],
  mv_on_hold: ['挂起', 'Put on hold'],
  mv_resolved: ['标记已解决', 'Mark resolved'],
  mv_reopened: ['重新打开', 'Reopen'],
  mv_closed: ['关闭', 'Close'],
  mv_cancelled: ['取消工单', 'Cancel ticket'],
  // public form
  qrTitle: ['设施故障报修', 'Report a fault'],
  qrIntro: ['无需登录。请描述您看到的问题，物业会尽快处理。', 'No login needed. Describe what you see; the property team will handle it.'],
  yourName: ['您的称呼', 'Your name'],
  yourPhone: ['联系电话', 'Phone'],
  whatsWrong: ['问题描述', "What's wrong"],
  qrThanks: ['感谢您的报修！', 'Thank you for your report!'],
  qrRef: ['工单号 #{ref}，状态：{status}', 'Ticket #{ref}, status: {status}'],
  qrAnother: ['再报一个问题', 'Report another problem'],
  // dashboard
  kpis: ['关键指标', 'Key figures'],
  openTickets: ['未完结工单', 'Open tickets'],
  overdueTickets: ['超时工单', 'Overdue tickets'],
  rectOverdue: ['整改超期', 'Rectifications overdue'],
  openedInPeriod: ['本期新增', 'Opened in period'],
  respCompliance: ['响应达标率', 'Response SLA compliance'],
  resoCompliance: ['解决达标率', 'Resolution SLA compliance'],
  mtta: ['平均响应', 'Mean time to respond'],
  mttr: ['平均修复', 'Mean time to repair'],
  intactRate: ['设施完好率（对比目标）', 'Facility intact rate vs target'],
  target: ['目标', 'Target'],
  inspectionsOnTime: ['巡检按时完成率', 'Inspections on time'],
  dutyGap: ['维保责任空缺', 'Duty gap'],
  dutyGapNone: ['无责任空缺', 'No duty gap'],
  period: ['统计周期', 'Period'],
  noData: ['暂无数据', 'No data yet'],
  // facilities
  facilities: ['设施设备', 'Facilities'],
  name: ['名称', 'Name'],
  location: ['位置', 'Location'],
  qrLabels: ['打印二维码标签', 'Print QR labels'],
  scanToReport: ['扫码报修', 'Scan to report a fault'],
  fac_operational: ['正常', 'Operational'],
  fac_faulty: ['故障', 'Faulty'],
  fac_under_repair: ['维修中', 'Under repair'],
  fac_decommissioned: ['已停用', 'Decommissioned'],
  // duties
  duties: ['维保责任', 'Duty assignments'],
  organization: ['单位', 'Organization'],
  basis: ['依据', 'Basis'],
  validFrom: ['生效', 'From'],
  validTo: ['截止', 'To'],
  active: ['有效', 'Active'],
  inactive: ['已失效', 'Ended'],
  allCategories: ['全部类别', 'All categories'],
  basis_service_contract: ['物业服务合同', 'Service contract'],
  basis_fallback_committee: ['业委会兜底', 'Committee fallback'],
  basis_delegated_contractor: ['委托维保单位', 'Delegated contractor'],
  dutyHolderNow: ['当前责任主体', 'Duty holder now'],
  // inspections
  inspections: ['巡检日历', 'Inspection calendar'],
  holiday: ['节假日', 'Holiday'],
  makeup: ['调休上班', 'Make-up workday'],
  ins_scheduled: ['待执行', 'Scheduled'],
  ins_in_progress: ['进行中', 'In progress'],
  ins_done: ['已完成', 'Done'],
  ins_missed: ['已错过', 'Missed'],
  ins_cancelled: ['已取消', 'Cancelled'],
  // funds
  fundRequests: ['维修资金申请', 'Fund requests'],
  newRequest: ['新建申请', 'New request'],
  budget: ['预算', 'Budget'],
  budgetLines: ['预算明细', 'Budget lines'],
  funding: ['资金来源', 'Funding'],
  amountYuan: ['金额（元）', 'Amount (yuan)'],
  addLine: ['添加一行', 'Add a line'],
  remove: ['删除', 'Remove'],
  scope: ['范围（按楼栋）', 'Scope (by building)'],
  decisionType: ['表决事项', 'Decision'],
  path: ['程序', 'Procedure'],
  path_normal: ['常规（业主表决）', 'Normal (owners vote)'],
  path_emergency: ['应急（事后公示）', 'Emergency (notice after the fact)'],
  emergencyKind: ['应急情形', 'Emergency'],
  dt_use_fund: ['使用维修资金（双过半）', 'Use the fund (> 1/2)'],
  dt_raise_fund: ['筹集维修资金（双四分之三）', 'Raise the fund (≥ 3/4)'],
  dt_renovation: ['改建、重建（双四分之三）', 'Renovation (≥ 3/4)'],
  dt_change_use: ['改变共有部分用途（双四分之三）', 'Change of use (≥ 3/4)'],
  fundingMismatch: ['资金来源合计 {a} 元，须等于预算 {b} 元', 'Funding adds up to {a} yuan; it must equal the budget, {b} yuan'],
  contractor: ['施工单位', 'Contractor'],
  linkedFacilities: ['关联设施', 'Linked facilities'],
  emergencyNeedsLink: ['应急申请须关联故障设施或 P1 工单。', 'An emergency request must name a facility or a P1 ticket.'],
  voteClosesAt: ['表决截止', 'Vote closes'],
  tally: ['实时计票', 'Live tally'],
  finalTally: ['计票结果', 'Tally'],
  areaLine: ['专有面积', 'Exclusive area'],
  headLine: ['业主人数', 'Owners'],
  participation: ['参与表决', 'Participation'],
  approvalOfParticipants: ['同意（占参与者）', 'Agree (of participants)'],
  thresholdQuorum: ['参与门槛 ≥ 2/3', 'Quorum ≥ 2/3'],
  thresholdApproval: ['通过门槛 {rule}', 'Approval {rule}'],
  agree: ['同意', 'Agree'],
  disagree: ['反对', 'Disagree'],
  abstain: ['弃权', 'Abstain'],
  notVoted: ['未表决', 'Not voted'],
  outcome: ['结果', 'Outcome'],
  outcomeSoFar: ['按目前票数', 'If the vote closed now'],
  out_passed: ['通过', 'Passed'],
  out_rejected: ['未通过', 'Rejected'],
  out_no_quorum: ['参与不足', 'No quorum'],
  reasoning: ['计票依据', 'Reasoning'],
  met: ['已达到', 'met'],
  notMet: ['未达到', 'not met'],
  closeVote: ['结束表决', 'Close the vote'],
  actualCost: ['实际费用（元）', 'Actual cost (yuan)'],
  fundShare: ['维修资金承担', 'Fund share'],
  settleNote: ['结算将按面积把维修资金部分分摊到范围内各户账户。', "Settling apportions the fund's share across the units in scope by area."],
  worksDone: ['施工单位报告完工', 'Report works done'],
  afterFactNotice: ['登记事后公示', 'Record after-the-fact notice'],
  notice: ['公示', 'Public notice'],
  noticePage: ['公示页（可打印）', 'Public notice (printable)'],
  noticeTitle: ['关于使用住宅专项维修资金的公示', 'Public notice on the use of the special maintenance fund'],
  noticeEnds: ['公示截止', 'Notice ends'],
  units: ['户数', 'Units'],
  unit: ['房屋', 'Unit'],
  owners: ['业主', 'Owners'],
  choice: ['表决意见', 'Choice'],
  share: ['分摊', 'Share'],
  objections: ['异议', 'Objections'],
  documents: ['文件', 'Documents'],
  fs_draft: ['草稿', 'Draft'],
  fs_voting: ['表决中', 'Voting'],
  fs_passed: ['表决通过', 'Passed'],
  fs_rejected: ['表决未通过', 'Rejected'],
  fs_no_quorum: ['参与不足', 'No quorum'],
  fs_public_notice: ['公示中', 'Public notice'],
  fs_emergency_review: ['应急审核', 'Emergency review'],
  fs_approved: ['已批准', 'Approved'],
  fs_in_works: ['施工中', 'In works'],
  fs_accepted: ['已验收', 'Accepted'],
  fs_settled: ['已结算', 'Settled'],
  fs_closed: ['已关闭', 'Closed'],
  fs_withdrawn: ['已撤回', 'Withdrawn'],
  fmv_voting: ['发起表决', 'Open the vote'],
  fmv_emergency_review: ['提交应急审核', 'Submit for emergency review'],
  fmv_withdrawn: ['撤回', 'Withdraw'],
  fmv_public_notice: ['开始公示', 'Start the public notice'],
  fmv_approved: ['批准', 'Approve'],
  fmv_in_works: ['开始施工', 'Start works'],
  fmv_accepted: ['验收', 'Accept the works'],
  fmv_settled: ['结算', 'Settle'],
  fmv_closed: ['关闭', 'Close'],
  src_maintenance_fund: ['维修资金', 'Maintenance fund'],
  src_government_subsidy: ['财政补贴', 'Government subsidy'],
  src_street_community: ['街道社区', 'Street / community'],
  src_property_company: ['物业企业', 'Property company'],
  src_contractor_concession: ['承建单位让利', 'Contractor concession'],
  src_other: ['其他', 'Other'],
  // owner
  myBallots: ['我的表决', 'My ballots'],
  noBallots: ['目前没有需要您表决的事项', 'Nothing to vote on right now'],
  whatIsDecided: ['表决内容', 'What is being decided'],
  costPerUnit: ['您的房屋预计分摊', 'Estimated cost for your unit(s)'],
  costPerUnitNote: ['按专有面积占比估算（{area} m² / {total} m²），以结算为准。', 'Estimated by area share ({area} m² of {total} m²); settlement decides.'],
  yourVote: ['您的意见：{choice}', 'Your vote: {choice}'],
  voteRecorded: ['已记录您的表决（{units}）', 'Your vote is recorded ({units})'],
  changeVoteNote: ['截止前可以更改。', 'You may change it until the vote closes.'],
  ledger: ['维修资金账户', 'Fund ledger'],
  balance: ['余额', 'Balance'],
  firstDeposit: ['首期缴存', 'First deposit'],
  belowThreshold: ['余额低于首期缴存的 30%，需要续筹', 'Balance is below 30% of the first deposit: a top-up is due'],
  entries: ['流水', 'Entries'],
  noEntries: ['暂无流水', 'No entries yet'],
  myTickets: ['我的报修', 'My tickets'],
  // authority
  district: ['辖区', 'District'],
  districtKpis: ['辖区指标', 'District KPIs'],
  dutyGaps: ['责任空缺小区', 'Communities with a duty gap'],
  readOnly: ['只读', 'Read-only'],
  communities: ['小区数', 'Communities'],
  // errors
  err_NETWORK: ['无法连接服务器，请检查网络后重试。您填写的内容已保留。', 'The server cannot be reached. Check your connection and try again; what you entered is kept.'],
  err_INVALID_CREDENTIALS: ['邮箱或密码不正确。', 'The email or password is incorrect.'],
  err_RATE_LIMITED: ['尝试次数过多，请稍后再试。', 'Too many attempts; please wait and try again.'],
  err_TOO_MANY_REQUESTS: ['操作过于频繁，请稍后再试。', 'Too many requests; please wait a moment.'],
  err_VALIDATION_ERROR: ['填写的内容有误，请检查：', 'Some fields need attention:'],
  err_UNAUTHORIZED: ['登录已过期，请重新登录。', 'Your session has expired; please log in again.'],
  err_REFRESH_TOKEN_REUSED: ['登录已失效，请重新登录。', 'Your session ended; please log in again.'],
  err_REFRESH_TOKEN_EXPIRED: ['登录已过期，请重新登录。', 'Your session has expired; please log in again.'],
  err_INVALID_REFRESH_TOKEN: ['登录已失效，请重新登录。', 'Your session ended; please log in again.'],
  err_FORBIDDEN: ['您没有权限进行此操作。', 'You are not allowed to do this.'],
  err_NOT_FOUND: ['找不到该记录，可能已被删除或您无权查看。', 'Not found: it may have been removed, or you may not see it.'],
  err_CONFLICT: ['操作与当前状态冲突，请刷新后重试。', 'This conflicts with the current state; refresh and try again.'],
  err_ILLEGAL_TRANSITION: ['当前状态下不能进行这一步，请刷新查看最新状态。', 'This step is not possible in the current state; refresh to see the latest.'],
  err_RULE_VIOLATION: ['不符合业务规则：', 'A rule prevents this:'],
  err_VOTE_CLOSED: ['表决未开放或已结束。', 'The vote is not open.'],
  err_OUTCOME_OPEN: ['结果仍可能变化，需等到表决截止。', 'The outcome can still change; wait for the deadline.'],
  err_NOTICE_RUNNING: ['公示期尚未结束。', 'The public notice is still running.'],
  err_NOTICE_CLOSED: ['只能在公示期内提出异议。', 'Objections are taken during the public notice only.'],
  err_PAYLOAD_TOO_LARGE: ['文件太大，请压缩后再上传。', 'The file is too large.'],
  err_UNSUPPORTED_MEDIA_TYPE: ['不支持这种文件格式。', 'This file type is not accepted.'],
  err_SERVICE_UNAVAILABLE: ['服务暂时不可用，请稍后重试。', 'The service is temporarily unavailable; try again shortly.'],
  err_INTERNAL_ERROR: ['服务器出错了，已记录，请稍后重试。', 'Something went wrong on our side; it has been logged.'],
  err_unknown: ['操作失败（{status}）。', 'The request failed ({status}).'],
  serverSaid: ['服务器说明', 'Server says'],
} as const satisfies Record<string, readonly [string, string]>;

export type MsgKey = keyof typeof M;

export function t(key: MsgKey, vars: Record<string, string | number> = {}): string {
  const pair = M[key];
  let s: string = pair ? pair[lang === 'en' ? 1 : 0] : key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

/** A dynamic key (a status, a category…), falling back to the raw value. */
export function tk(prefix: string, value: string | null | undefined): string {
  if (!value) return '';
  const key = `${prefix}${value}` as MsgKey;
  return key in M ? t(key) : CATEGORY[value]?.[lang === 'en' ? 1 : 0] ?? value;
}

export const CATEGORY: Record<string, [string, string]> = {
  camera: ['摄像机', 'Camera'],
  access_control: ['门禁', 'Access control'],
  face_gate: ['人脸闸机', 'Face gate'],
  vehicle_barrier: ['车辆道闸', 'Vehicle barrier'],
  perimeter_alarm: ['周界报警', 'Perimeter alarm'],
  emergency_alarm: ['一键报警', 'Emergency alarm'],
  smoke_detector: ['烟感', 'Smoke detector'],
  fire_equipment: ['消防设施', 'Fire equipment'],
  hydrant_pressure: ['消火栓水压', 'Hydrant pressure'],
  electrical_safety: ['用电安全', 'Electrical safety'],
  elevator: ['电梯', 'Elevator'],
  intercom: ['对讲', 'Intercom'],
  water_pump: ['水泵', 'Water pump'],
  drainage: ['排水', 'Drainage'],
  roof: ['屋面', 'Roof'],
  facade: ['外墙', 'Facade'],
  lighting: ['照明', 'Lighting'],
  other: ['其他', 'Other'],
};
export const CATEGORIES = Object.keys(CATEGORY);
/** A name from a [zh, en] table in the current language; the key itself where the table lacks it. */
export const named = (table: Record<string, [string, string]>) => (k: string | null | undefined) => (k ? table[k]?.[lang === 'en' ? 1 : 0] ?? k : '');
export const cat = named(CATEGORY);

const FIELD: Record<string, [string, string]> = {
  email: ['邮箱', 'email'],
  password: ['密码', 'password'],
  title: ['标题', 'title'],
  description: ['描述', 'description'],
  reporterName: ['称呼', 'name'],
  reporterPhone: ['联系电话', 'phone'],
  body: ['内容', 'text'],
  budgetLines: ['预算明细', 'budget lines'],
  funding: ['资金来源', 'funding'],
  scope: ['范围', 'scope'],
  actualCostCents: ['实际费用', 'actual cost'],
  reason: ['原因', 'reason'],
};

/** A problem found before anything is sent (a missing reason…): its message is for the person. */
export class UserError extends Error {}

/** What to tell a person about a failure: never a stack or a bare code. */
export function errorText(err: unknown): { text: string; detail?: string } {
  if (err instanceof UserError) return { text: err.message };
  if (!(err instanceof ApiError)) return { text: t('err_unknown', { status: '—' }), detail: err instanceof Error ? err.message : String(err) };
  const key = `err_${err.code}` as MsgKey;
  let text = key in M ? t(key) : err.status === 409 ? t('err_CONFLICT') : err.status === 403 ? t('err_FORBIDDEN') : err.status === 404 ? t('err_NOT_FOUND') : t('err_unknown', { status: err.status });
  let detail: string | undefined;
  if (err.code === 'VALIDATION_ERROR' && Array.isArray(err.details)) {
    const fields = (err.details as Array<{ field?: string; message?: string }>).map((d) => {
      const f = (d.field ?? '').split('.')[0] ?? '';
      const label = FIELD[f]?.[lang === 'en' ? 1 : 0] ?? d.field ?? '';
      return label ? `${label}${lang === 'en' ? ': ' : '：'}${d.message ?? ''}` : d.message ?? '';
    });
    text = `${text} ${fields.join('; ')}`;
  } else if (err.status === 409 || err.status === 422 || err.status === 429 || err.code === 'VALIDATION_ERROR') {
    // The API's own sentence names the specifics (the state, the rule, the wait).
    detail = err.message;
  }
  return { text, detail };
}
