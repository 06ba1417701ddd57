import { render } from '../src/modules/notifications/templates.js';
for (const locale of ['zh-CN', 'en'] as const) {
  const r = render('duty.contract_ending', { communityName: '阳光花园社区 17', organizationName: '物业公司 17', validTo: new Date().toISOString(), daysBefore: 30, category: null }, { locale, timeZone: 'Asia/Shanghai', recipientName: '张经理' });
  console.log(locale, 'subject', Buffer.byteLength(r.subject), 'text', Buffer.byteLength(r.text), 'html', Buffer.byteLength(r.html));
}
