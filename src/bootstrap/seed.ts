import type { Db } from '../db/index.js';
import type { Actor } from '../plugins/access.js';
import { recordAudit } from '../modules/audit/audit.service.js';
import { hashPassword } from '../modules/auth/passwords.js';
import { addMember, createOrganization } from '../modules/organizations/organizations.service.js';
import { createCommunity, createBuilding } from '../modules/communities/communities.service.js';
import { importUnits } from '../modules/units/units.service.js';
import { createFacility } from '../modules/facilities/facilities.service.js';
import { createAssignment } from '../modules/duties/duties.service.js';
import * as users from '../modules/users/users.repository.js';

/** The demo's shared password: demo data only, never seeded in production by default. */
export const DEMO_PASSWORD = 'upkeep-demo-2026';

const DEMO_ACCOUNTS = [
  { role: 'platform admin', email: 'admin@demo.upkeep.cn' },
  { role: 'property manager', email: 'manager@demo.upkeep.cn' },
  { role: 'technician', email: 'tech@demo.upkeep.cn' },
  { role: 'owners’ committee chair', email: 'committee@demo.upkeep.cn' },
  { role: 'contractor', email: 'contractor@demo.upkeep.cn' },
  { role: 'authority', email: 'authority@demo.upkeep.cn' },
  { role: 'owner', email: 'owner@demo.upkeep.cn' },
] as const;

export interface DemoAccount {
  role: string;
  email: string;
  password: string;
}

/**
 * On the first start (no users at all) seeds a demo community with one account per role, through
 * the same services the API uses (so the audit chain records it). Returns the accounts, or null
 * when the database already had users.
 */
export async function seedDemo(db: Db): Promise<{ seeded: boolean; accounts: DemoAccount[] } | null> {
  const anyUser = await db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  if (anyUser) {
    // Seeded on an earlier start: list the accounts again while the demo admin still exists.
    const demoAdmin = await users.findUserByEmail(db, DEMO_ACCOUNTS[0].email);
    return demoAdmin ? { seeded: false, accounts: DEMO_ACCOUNTS.map((a) => ({ role: a.role, email: a.email, password: DEMO_PASSWORD })) } : null;
  }

  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const adminUser = await db.transaction().execute(async (trx) => {
    const u = await users.insertUser(trx, { email: DEMO_ACCOUNTS[0].email, name: '平台管理员', password_hash: passwordHash, is_platform_admin: true, locale: 'zh-CN' });
    await recordAudit(trx, { communityId: null, actorUserId: null, action: 'user.created', entityType: 'user', entityId: u.id, after: { email: u.email, platformAdmin: true, source: 'demo seed' } });
    return u;
  });
  const admin: Actor = { userId: adminUser.id, email: adminUser.email, name: adminUser.name, locale: 'zh-CN', isPlatformAdmin: true, memberships: [] };

  const company = await createOrganization(db, admin, { kind: 'property_company', name: '示范物业服务有限公司' });
  const community = await createCommunity(db, admin, { name: '示范花园小区', district: '示范区', address: '示范路 1 号', propertyCompanyId: company.id });
  const committee = await createOrganization(db, admin, { kind: 'owners_committee', name: '示范花园业主委员会', communityId: community.id });
  const contractor = await createOrganization(db, admin, { kind: 'contractor', name: '安防维保工程有限公司' });
  const authority = await createOrganization(db, admin, { kind: 'authority', name: '示范区住房和城乡建设局', district: '示范区' });

  const accounts: Array<[string, string, string, 'manager' | 'staff' | 'chair' | 'member' | 'viewer']> = [
    [DEMO_ACCOUNTS[1].email, '王经理', company.id, 'manager'],
    [DEMO_ACCOUNTS[2].email, '李师傅', company.id, 'staff'],
    [DEMO_ACCOUNTS[3].email, '赵主任', committee.id, 'chair'],
    [DEMO_ACCOUNTS[4].email, '钱工', contractor.id, 'manager'],
    [DEMO_ACCOUNTS[5].email, '孙科长', authority.id, 'viewer'],
  ];
  for (const [email, name, orgId, role] of accounts) {
    await addMember(db, admin, orgId, { email, name, role, password: DEMO_PASSWORD });
  }
  // The contractor keeps the cameras under a delegated duty.
  // (A one-year maintenance contract: its end reminders are scheduled with it.)
  await db.transaction().execute((trx) =>
    createAssignment(trx, admin.userId, {
      communityId: community.id,
      organizationId: contractor.id,
      basis: 'delegated_contractor',
      facilityCategory: 'camera',
      validTo: new Date(Date.now() + 365 * 86_400_000),
    }),
  );

  // An owner with a login: the owner record links to the account by email.
  const ownerUser = await db.transaction().execute(async (trx) => {
    const u = await users.insertUser(trx, { email: DEMO_ACCOUNTS[6].email, name: '周业主', password_hash: passwordHash, locale: 'zh-CN' });
    await recordAudit(trx, { communityId: null, actorUserId: admin.userId, action: 'user.created', entityType: 'user', entityId: u.id, after: { email: u.email, source: 'demo seed' } });
    return u;
  });
  const rows = ['楼栋,房号,面积,业主姓名,电话,邮箱,首期维修资金,开发商'];
  const names = ['张伟', '王芳', '李娜', '刘强', '陈静', '杨洋', '黄磊', '吴敏', '徐丽', '孙杰', '胡军', '朱琳'];
  let n = 0;
  for (const building of ['1栋', '2栋']) {
    for (let floor = 1; floor <= 6; floor++) {
      for (const door of ['01', '02']) {
        const area = (85 + ((n * 7) % 40) + (n % 3) * 0.25).toFixed(2);
        if (building === '2栋' && floor === 6) {
          rows.push(`${building},${floor}${door},${area},开发建设单位,,,${(Number(area) * 50).toFixed(2)},是`);
        } else if (n === 0) {
          rows.push(`${building},${floor}${door},${area},周业主,13800000000,${ownerUser.email},${(Number(area) * 50).toFixed(2)},否`);
        } else {
          const name = names[n % names.length] as string;
          rows.push(`${building},${floor}${door},${area},${name}${n},1390000${String(n).padStart(4, '0')},,${(Number(area) * 50).toFixed(2)},否`);
        }
        n++;
      }
    }
  }
  await importUnits(db, admin, community.id, rows.join('\n'));
  await createBuilding(db, admin, community.id, '地下车库');

  const facilities: Array<[Parameters<typeof createFacility>[3]['category'], string, string]> = [
    ['camera', '南门高清摄像机', '南门岗亭'],
    ['camera', '1栋电梯厅摄像机', '1栋一层'],
    ['access_control', '北门人脸识别门禁', '北门'],
    ['vehicle_barrier', '车库入口道闸', '地下车库入口'],
    ['elevator', '1栋1号电梯', '1栋'],
    ['elevator', '2栋1号电梯', '2栋'],
    ['hydrant_pressure', '消防栓水压监测', '2栋地下一层'],
    ['smoke_detector', '配电房烟感', '配电房'],
    ['emergency_alarm', '一键报警柱', '中心广场'],
  ];
  for (const [category, name, location] of facilities) await createFacility(db, admin, community.id, { category, name, location });

  return { seeded: true, accounts: DEMO_ACCOUNTS.map((a) => ({ role: a.role, email: a.email, password: DEMO_PASSWORD })) };
}
