import { createHash, createHmac } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { PASSWORD, addMembership, as, makeOrg, makeUser } from './helpers/factories.js';

const LOGIN = '/api/v1/auth/login';
const REFRESH = '/api/v1/auth/refresh';
const LOGOUT = '/api/v1/auth/logout';
const ME = '/api/v1/me';

interface TokenPairBody {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

const b64u = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A JWT built by hand, so the test controls every part of it. */
function hmacJwt(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string, hash: 'sha256' | 'sha512' = 'sha256'): string {
  const data = `${b64u(header)}.${b64u(payload)}`;
  return `${data}.${createHmac(hash, secret).update(data).digest('base64url')}`;
}

function expectErrorShape(body: unknown, code?: string) {
  const b = body as { error?: { code?: unknown; message?: unknown } };
  expect(typeof b.error?.code).toBe('string');
  expect(typeof b.error?.message).toBe('string');
  expect((b.error?.message as string).length).toBeGreaterThan(0);
  if (code) expect(b.error?.code).toBe(code);
}

describe('auth', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Many logins in this file: the per-address limit has its own test below.
    t = await createTestApp({ loginRateLimitPerMinute: 1000 });
  });
  afterAll(async () => t?.close());

  const login = (email: string, password: string) => t.app.inject({ method: 'POST', url: LOGIN, payload: { email, password } });
  const refresh = (refreshToken: string) => t.app.inject({ method: 'POST', url: REFRESH, payload: { refreshToken } });
  const me = (token?: string) => t.app.inject({ method: 'GET', url: ME, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  async function loginOk(email: string): Promise<TokenPairBody> {
    const res = await login(email, PASSWORD);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<TokenPairBody>();
  }

  describe('login', () => {
    it('answers a token pair for the right password', async () => {
      const user = await makeUser(t.db);
      const res = await login(user.email, PASSWORD);
      expect(res.statusCode).toBe(200);
      const body = res.json<TokenPairBody>();
      expect(body.accessToken.split('.')).toHaveLength(3);
      expect(typeof body.refreshToken).toBe('string');
      expect(body.refreshToken.length).toBeGreaterThanOrEqual(20);
      expect(body.tokenType).toBe('Bearer');
      expect(body.expiresIn).toBe(t.config.accessTokenTtlSeconds);
      // The access token is one the API accepts.
      expect((await me(body.accessToken)).statusCode).toBe(200);
      // Only a hash of the refresh token is stored.
      const stored = await t.db.selectFrom('refresh_tokens').select('token_hash').where('user_id', '=', user.id).execute();
      expect(stored).toHaveLength(1);
      expect(stored[0]?.token_hash).toBe(createHash('sha256').update(body.refreshToken).digest('hex'));
      expect(stored[0]?.token_hash).not.toBe(body.refreshToken);
    });

    it('refuses a wrong password and an unknown email alike (no user enumeration)', async () => {
      const user = await makeUser(t.db);
      const wrong = await login(user.email, 'not-the-password');
      const unknown = await login(`nobody-${Date.now()}@test.upkeep.cn`, PASSWORD);
      expect(wrong.statusCode).toBe(401);
      expect(unknown.statusCode).toBe(401);
      expectErrorShape(wrong.json(), 'INVALID_CREDENTIALS');
      expectErrorShape(unknown.json(), 'INVALID_CREDENTIALS');
      expect(unknown.json().error.message).toBe(wrong.json().error.message);
      expect(unknown.json()).toEqual(wrong.json());
    });

    it('treats the email case-insensitively', async () => {
      const suffix = Math.random().toString(36).slice(2, 8);
      const user = await makeUser(t.db, { email: `Li.Na-${suffix}@Test.Upkeep.CN` });
      expect((await login(user.email, PASSWORD)).statusCode).toBe(200);
      expect((await login(user.email.toLowerCase(), PASSWORD)).statusCode).toBe(200);
      expect((await login(user.email.toUpperCase(), PASSWORD)).statusCode).toBe(200);
    });

    it('refuses a disabled account with the same answer as a wrong password', async () => {
      const user = await makeUser(t.db);
      await t.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', user.id).execute();
      const res = await login(user.email, PASSWORD);
      expect(res.statusCode).toBe(401);
      expectErrorShape(res.json(), 'INVALID_CREDENTIALS');
    });
  });

  describe('GET /me', () => {
    it('answers the user and their memberships', async () => {
      const user = await makeUser(t.db, { locale: 'en' });
      const company = await makeOrg(t.db, 'property_company');
      await addMembership(t.db, user.id, company.id, 'manager');
      const { accessToken } = await loginOk(user.email);
      const res = await me(accessToken);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ id: user.id, email: user.email, name: user.name, locale: 'en', isPlatformAdmin: false, ownerOf: [] });
      expect(body.memberships).toEqual([
        { organizationId: company.id, organizationName: company.name, kind: 'property_company', role: 'manager', communityId: null, district: null },
      ]);
      expect(JSON.stringify(body)).not.toMatch(/password|argon2/i);
    });

    it('answers 401 without a token or with garbage', async () => {
      for (const res of [
        await me(),
        await me('garbage'),
        await me('a.b.c'),
        await t.app.inject({ method: 'GET', url: ME, headers: { authorization: 'Basic dXNlcjpwYXNz' } }),
        await t.app.inject({ method: 'GET', url: ME, headers: { authorization: 'Bearer' } }),
      ]) {
        expect(res.statusCode).toBe(401);
        expectErrorShape(res.json());
      }
    });
  });

  describe('refresh tokens', () => {
    it('rotates: a refresh answers a new pair and spends the old token', async () => {
      const user = await makeUser(t.db);
      const first = await loginOk(user.email);
      const res = await refresh(first.refreshToken);
      expect(res.statusCode).toBe(200);
      const second = res.json<TokenPairBody>();
      expect(second.refreshToken).not.toBe(first.refreshToken);
      expect(second.tokenType).toBe('Bearer');
      expect((await me(second.accessToken)).json().id).toBe(user.id);
      // Same family, the old one marked used.
      const rows = await t.db.selectFrom('refresh_tokens').select(['family_id', 'used_at', 'revoked_at']).where('user_id', '=', user.id).execute();
      expect(rows).toHaveLength(2);
      expect(new Set(rows.map((r) => r.family_id)).size).toBe(1);
      expect(rows.filter((r) => r.used_at !== null)).toHaveLength(1);
      expect(rows.every((r) => r.revoked_at === null)).toBe(true);
    });

    it('detects reuse of a spent token and revokes the whole family', async () => {
      const user = await makeUser(t.db);
      const first = await loginOk(user.email);
      // Another session of the same user, a different family: untouched by the revocation.
      const otherSession = await loginOk(user.email);
      const second = (await refresh(first.refreshToken)).json<TokenPairBody>();

      const reuse = await refresh(first.refreshToken);
      expect(reuse.statusCode).toBe(401);
      expectErrorShape(reuse.json(), 'REFRESH_TOKEN_REUSED');

      // The new token of that family (possibly the thief's) is refused too.
      const afterRevoke = await refresh(second.refreshToken);
      expect(afterRevoke.statusCode).toBe(401);
      expectErrorShape(afterRevoke.json());
      expect(afterRevoke.json().error.code).not.toBe('REFRESH_TOKEN_REUSED');

      const events = await t.db.selectFrom('audit_events').select(['action', 'entity_id']).where('action', '=', 'auth.refresh_reuse_detected').where('entity_id', '=', user.id).execute();
      expect(events).toHaveLength(1);

      expect((await refresh(otherSession.refreshToken)).statusCode).toBe(200);
    });

    it('lets exactly one of two concurrent refreshes with the same token through', async () => {
      const user = await makeUser(t.db);
      const { refreshToken } = await loginOk(user.email);
      const results = await Promise.all([refresh(refreshToken), refresh(refreshToken)]);
      const statuses = results.map((r) => r.statusCode).sort();
      expect(statuses).toEqual([200, 401]);
      expect(results.find((r) => r.statusCode === 401)?.json().error.code).toBe('REFRESH_TOKEN_REUSED');
    });

    it('refuses unknown and expired refresh tokens', async () => {
      const unknown = await refresh('this-is-not-a-refresh-token-at-all');
      expect(unknown.statusCode).toBe(401);
      expectErrorShape(unknown.json(), 'INVALID_REFRESH_TOKEN');

      const user = await makeUser(t.db);
      const { refreshToken } = await loginOk(user.email);
      await t.db
        .updateTable('refresh_tokens')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where('token_hash', '=', createHash('sha256').update(refreshToken).digest('hex'))
        .execute();
      const expired = await refresh(refreshToken);
      expect(expired.statusCode).toBe(401);
      expectErrorShape(expired.json(), 'REFRESH_TOKEN_EXPIRED');
    });

    it('refuses a refresh for an account disabled since', async () => {
      const user = await makeUser(t.db);
      const { refreshToken } = await loginOk(user.email);
      await t.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', user.id).execute();
      const res = await refresh(refreshToken);
      expect(res.statusCode).toBe(401);
      expectErrorShape(res.json());
    });

    it('logout revokes the refresh token (and its family)', async () => {
      const user = await makeUser(t.db);
      const first = await loginOk(user.email);
      const second = (await refresh(first.refreshToken)).json<TokenPairBody>();
      const out = await t.app.inject({ method: 'POST', url: LOGOUT, payload: { refreshToken: second.refreshToken } });
      expect(out.statusCode).toBe(204);
      const res = await refresh(second.refreshToken);
      expect(res.statusCode).toBe(401);
      expectErrorShape(res.json());
      const live = await t.db.selectFrom('refresh_tokens').select('id').where('user_id', '=', user.id).where('revoked_at', 'is', null).execute();
      expect(live).toHaveLength(0);
      // An unknown token is ignored, not an error.
      expect((await t.app.inject({ method: 'POST', url: LOGOUT, payload: { refreshToken: 'no-such-refresh-token-here' } })).statusCode).toBe(204);
    });
  });

  describe('JWT attacks', () => {
    let userId: string;
    let otherId: string;
    beforeAll(async () => {
      userId = (await makeUser(t.db)).id;
      otherId = (await makeUser(t.db)).id;
    });

    const expect401 = async (token: string) => {
      const res = await me(token);
      expect(res.statusCode, res.body).toBe(401);
      expectErrorShape(res.json());
      return res.json().error.code as string;
    };

    it('accepts the hand-built control token (so the refusals below are meaningful)', async () => {
      const token = hmacJwt({ alg: 'HS256', typ: 'JWT' }, { sub: userId, typ: 'access', iat: nowSeconds(), exp: nowSeconds() + 300 }, t.config.jwtSecret);
      const res = await me(token);
      expect(res.statusCode).toBe(200);
      expect(res.json().id).toBe(userId);
    });

    it('refuses alg "none"', async () => {
      const payload = b64u({ sub: userId, typ: 'access', iat: nowSeconds(), exp: nowSeconds() + 300 });
      await expect401(`${b64u({ alg: 'none', typ: 'JWT' })}.${payload}.`);
      await expect401(`${b64u({ alg: 'none', typ: 'JWT' })}.${payload}`);
      await expect401(`${b64u({ alg: 'None', typ: 'JWT' })}.${payload}.`);
    });

    it('refuses another algorithm even with the right secret', async () => {
      await expect401(hmacJwt({ alg: 'HS512', typ: 'JWT' }, { sub: userId, typ: 'access', exp: nowSeconds() + 300 }, t.config.jwtSecret, 'sha512'));
    });

    it('refuses a token signed with a wrong secret', async () => {
      await expect401(hmacJwt({ alg: 'HS256', typ: 'JWT' }, { sub: userId, typ: 'access', exp: nowSeconds() + 300 }, `${t.config.jwtSecret}-not`));
    });

    it('refuses an expired token', async () => {
      const code = await expect401(hmacJwt({ alg: 'HS256', typ: 'JWT' }, { sub: userId, typ: 'access', iat: nowSeconds() - 120, exp: nowSeconds() - 60 }, t.config.jwtSecret));
      expect(code).toBe('TOKEN_EXPIRED');
    });

    it('refuses a token once it expires, though its verification was cached while valid', async () => {
      const exp = nowSeconds() + 1;
      const token = hmacJwt({ alg: 'HS256', typ: 'JWT' }, { sub: userId, typ: 'access', iat: nowSeconds(), exp }, t.config.jwtSecret);
      expect((await me(token)).statusCode).toBe(200);
      expect((await me(token)).statusCode).toBe(200);
      await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
      expect(await expect401(token)).toBe('TOKEN_EXPIRED');
    });

    it('refuses a tampered payload (sub changed, signature kept)', async () => {
      const valid = t.app.jwt.sign({ sub: userId, typ: 'access' });
      expect((await me(valid)).statusCode).toBe(200);
      const [header, payload, signature] = valid.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
      await expect401(`${header}.${b64u({ ...claims, sub: otherId })}.${signature}`);
      // A flipped signature character is refused too.
      const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.slice(-1);
      await expect401(`${header}.${payload}.${flipped}`);
    });

    it('refuses a token whose typ is not access', async () => {
      for (const typ of ['refresh', 'ACCESS', undefined]) {
        await expect401(hmacJwt({ alg: 'HS256', typ: 'JWT' }, { sub: userId, ...(typ ? { typ } : {}), exp: nowSeconds() + 300 }, t.config.jwtSecret));
      }
    });

    it('refuses a token without a usable subject', async () => {
      await expect401(hmacJwt({ alg: 'HS256', typ: 'JWT' }, { typ: 'access', exp: nowSeconds() + 300 }, t.config.jwtSecret));
      await expect401(hmacJwt({ alg: 'HS256', typ: 'JWT' }, { sub: 42, typ: 'access', exp: nowSeconds() + 300 }, t.config.jwtSecret));
      await expect401(hmacJwt({ alg: 'HS256', typ: 'JWT' }, { sub: '00000000-0000-4000-8000-000000000000', typ: 'access', exp: nowSeconds() + 300 }, t.config.jwtSecret));
      await expect401(hmacJwt({ alg: 'HS256', typ: 'JWT' }, { sub: 'not-a-uuid', typ: 'access', exp: nowSeconds() + 300 }, t.config.jwtSecret));
    });

    it('refuses a still-valid token of a user disabled since', async () => {
      const user = await makeUser(t.db);
      const { accessToken } = await loginOk(user.email);
      expect((await me(accessToken)).statusCode).toBe(200);
      await t.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', user.id).execute();
      await expect401(accessToken);
    });
  });

  describe('one person one account', () => {
    it('reuses the account when the same email (any case) joins another organization', async () => {
      const admin = await makeUser(t.db, { isPlatformAdmin: true });
      const company = await makeOrg(t.db, 'property_company');
      const contractor = await makeOrg(t.db, 'contractor');
      const suffix = Math.random().toString(36).slice(2, 8);
      const email = `Wang.Wei-${suffix}@Example.CN`;

      const created = await as(t.app, admin.id)({
        method: 'POST',
        url: `/api/v1/organizations/${company.id}/members`,
        payload: { email, role: 'staff', name: '王伟', password: 'a-long-initial-password' },
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.json()).toMatchObject({ organizationId: company.id, role: 'staff', createdAccount: true });
      const userId = created.json().userId as string;

      const reused = await as(t.app, admin.id)({
        method: 'POST',
        url: `/api/v1/organizations/${contractor.id}/members`,
        payload: { email: email.toLowerCase(), role: 'manager' },
      });
      expect(reused.statusCode, reused.body).toBe(201);
      expect(reused.json()).toMatchObject({ userId, organizationId: contractor.id, role: 'manager', createdAccount: false });

      const rows = await t.db.selectFrom('users').select('id').where(sql<string>`lower(email)`, '=', email.toLowerCase()).execute();
      expect(rows).toEqual([{ id: userId }]);

      // Adding the same person again (different case) with the same role is a conflict, not a second account.
      const again = await as(t.app, admin.id)({
        method: 'POST',
        url: `/api/v1/organizations/${company.id}/members`,
        payload: { email: email.toUpperCase(), role: 'staff' },
      });
      expect(again.statusCode).toBe(409);
      expectErrorShape(again.json(), 'CONFLICT');

      // The one account logs in (any case) and sees both memberships.
      const res = await login(email.toUpperCase(), 'a-long-initial-password');
      expect(res.statusCode).toBe(200);
      const mine = (await me(res.json<TokenPairBody>().accessToken)).json();
      expect(mine.id).toBe(userId);
      expect(mine.memberships.map((m: { organizationId: string }) => m.organizationId).sort()).toEqual([company.id, contractor.id].sort());

      const count = await t.db.selectFrom('users').select(sql<number>`count(*)::int`.as('n')).where(sql<string>`lower(email)`, '=', email.toLowerCase()).executeTakeFirstOrThrow();
      expect(count.n).toBe(1);
    });

    it('keeps emails unique case-insensitively in the database itself', async () => {
      const suffix = Math.random().toString(36).slice(2, 8);
      await makeUser(t.db, { email: `Zhao.Lei-${suffix}@test.upkeep.cn` });
      await expect(makeUser(t.db, { email: `zhao.lei-${suffix}@TEST.UPKEEP.CN` })).rejects.toMatchObject({ code: '23505' });
    });

    it('needs a name and password to create a new account', async () => {
      const admin = await makeUser(t.db, { isPlatformAdmin: true });
      const company = await makeOrg(t.db, 'property_company');
      const res = await as(t.app, admin.id)({
        method: 'POST',
        url: `/api/v1/organizations/${company.id}/members`,
        payload: { email: `new-${Date.now()}@test.upkeep.cn`, role: 'staff' },
      });
      expect(res.statusCode).toBe(422);
      expectErrorShape(res.json(), 'RULE_VIOLATION');
    });
  });
});

describe('lockout', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ loginMaxFailures: 3, loginRateLimitPerMinute: 1000 });
  });
  afterAll(async () => t?.close());

  const login = (email: string, password: string) => t.app.inject({ method: 'POST', url: LOGIN, payload: { email, password } });

  it('locks the account after loginMaxFailures failures, even against the right password', async () => {
    const user = await makeUser(t.db);
    for (let i = 0; i < t.config.loginMaxFailures - 1; i++) {
      const res = await login(user.email, `wrong-${i}`);
      expect(res.statusCode).toBe(401);
      expectErrorShape(res.json(), 'INVALID_CREDENTIALS');
    }
    // The failure that reaches the limit locks the account.
    const locking = await login(user.email, 'wrong-last');
    expect(locking.statusCode).toBe(429);
    expectErrorShape(locking.json(), 'ACCOUNT_LOCKED');

    const right = await login(user.email, PASSWORD);
    expect(right.statusCode).toBe(429);
    expectErrorShape(right.json(), 'ACCOUNT_LOCKED');
    expect(right.json().accessToken).toBeUndefined();

    const row = await t.db.selectFrom('users').select(['locked_until']).where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.locked_until).not.toBeNull();
    const minutesLeft = ((row.locked_until as Date).getTime() - Date.now()) / 60_000;
    expect(minutesLeft).toBeGreaterThan(t.config.lockoutMinutes - 1);
    expect(minutesLeft).toBeLessThanOrEqual(t.config.lockoutMinutes);

    const events = await t.db.selectFrom('audit_events').select(['action', 'entity_type', 'entity_id']).where('action', '=', 'user.locked').where('entity_id', '=', user.id).execute();
    expect(events).toEqual([{ action: 'user.locked', entity_type: 'user', entity_id: user.id }]);

    // Once the lock has run out, the right password works again and the count starts over.
    await t.db.updateTable('users').set({ locked_until: new Date(Date.now() - 1000) }).where('id', '=', user.id).execute();
    expect((await login(user.email, PASSWORD)).statusCode).toBe(200);
    const after = await t.db.selectFrom('users').select(['failed_logins', 'locked_until']).where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(after).toEqual({ failed_logins: 0, locked_until: null });
  });

  it('counts failures in a row: a successful login starts the count over', async () => {
    const user = await makeUser(t.db);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < t.config.loginMaxFailures - 1; i++) expect((await login(user.email, 'wrong')).statusCode).toBe(401);
      expect((await login(user.email, PASSWORD)).statusCode).toBe(200);
    }
  });

  it('counts concurrent failures without losing any', async () => {
    const user = await makeUser(t.db);
    const results = await Promise.all(Array.from({ length: t.config.loginMaxFailures }, (_, i) => login(user.email, `wrong-${i}`)));
    expect(results.filter((r) => r.statusCode === 429)).toHaveLength(1);
    expect((await login(user.email, PASSWORD)).json().error?.code).toBe('ACCOUNT_LOCKED');
  });
});

describe('login rate limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ loginRateLimitPerMinute: 5 });
  });
  afterAll(async () => t?.close());

  it('answers 429 RATE_LIMITED on the 6th attempt a minute from one address', async () => {
    const user = await makeUser(t.db);
    const attempt = (remoteAddress: string) => t.app.inject({ method: 'POST', url: LOGIN, remoteAddress, payload: { email: user.email, password: PASSWORD } });
    for (let i = 0; i < 5; i++) expect((await attempt('203.0.113.7')).statusCode).toBe(200);
    const sixth = await attempt('203.0.113.7');
    expect(sixth.statusCode).toBe(429);
    expectErrorShape(sixth.json(), 'RATE_LIMITED');
    expect(Object.keys(sixth.json())).toEqual(['error']);
    expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await attempt('203.0.113.8')).statusCode).toBe(200);
  });
});
