import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import type { Db, DbOrTrx } from '../../db/index.js';
import { type AppError, tooManyRequests, unauthorized } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import * as users from '../users/users.repository.js';
import * as repo from './auth.repository.js';
import { burnVerifyTime, verifyPassword } from './passwords.js';

type AuthConfig = Pick<Config, 'loginMaxFailures' | 'lockoutMinutes' | 'refreshTokenTtlDays'>;
/** Signs an access token for a user id (the JWT plugin's signer). */
export type SignAccess = (userId: string) => string;

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

async function issueRefreshToken(db: DbOrTrx, config: AuthConfig, userId: string, familyId: string): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await repo.insertRefreshToken(db, {
    user_id: userId,
    family_id: familyId,
    token_hash: sha256(token),
    expires_at: new Date(Date.now() + config.refreshTokenTtlDays * 86_400_000),
  });
  return token;
}

export async function login(
  deps: { db: Db; config: AuthConfig; signAccess: SignAccess; accessTtlSeconds: number },
  email: string,
  password: string,
): Promise<TokenPair> {
  const { db, config } = deps;
  const user = await users.findUserByEmail(db, email);
  if (!user || user.disabled_at) {
    await burnVerifyTime(password);
    throw unauthorized('Email or password is incorrect', 'INVALID_CREDENTIALS');
  }
  if (user.locked_until && user.locked_until > new Date()) {
    throw lockedError(user.locked_until);
  }
  if (!(await verifyPassword(user.password_hash, password))) {
    const after = await db.transaction().execute(async (trx) => {
      const state = await users.recordFailedLogin(trx, user.id, config.loginMaxFailures, config.lockoutMinutes);
      if (state.locked_until && state.locked_until > new Date()) {
        await recordAudit(trx, { communityId: null, actorUserId: null, action: 'user.locked', entityType: 'user', entityId: user.id, after: { lockedUntil: state.locked_until } });
      }
      return state;
    });
    if (after.locked_until && after.locked_until > new Date()) throw lockedError(after.locked_until);
    throw unauthorized('Email or password is incorrect', 'INVALID_CREDENTIALS');
  }
  if (user.failed_logins > 0 || user.locked_until) await users.clearFailedLogins(db, user.id);
  const refreshToken = await issueRefreshToken(db, config, user.id, randomUUID());
  return { accessToken: deps.signAccess(user.id), refreshToken, tokenType: 'Bearer', expiresIn: deps.accessTtlSeconds };
}

function lockedError(until: Date): AppError {
  const minutes = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 60_000));
  const err = tooManyRequests(`Too many failed logins: this account is locked for ${minutes} more minute(s)`, 'ACCOUNT_LOCKED');
  return err;
}

/**
 * Rotates a refresh token: the old one is spent and a new one of the same family issued.
 * Presenting a spent token again means it was stolen (or replayed): the whole family is revoked.
 */
export async function refresh(
  deps: { db: Db; config: AuthConfig; signAccess: SignAccess; accessTtlSeconds: number },
  refreshToken: string,
): Promise<TokenPair> {
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const row = await repo.findRefreshTokenForUpdate(trx, sha256(refreshToken));
    if (!row) return { kind: 'invalid' as const };
    if (row.revoked_at) return { kind: 'revoked' as const };
    if (row.used_at) {
      await repo.revokeFamily(trx, row.family_id);
      await recordAudit(trx, { communityId: null, actorUserId: row.user_id, action: 'auth.refresh_reuse_detected', entityType: 'user', entityId: row.user_id, after: { familyId: row.family_id } });
      return { kind: 'reused' as const };
    }
    if (row.expires_at <= new Date()) return { kind: 'expired' as const };
    const user = await users.findUserById(trx, row.user_id);
    if (!user || user.disabled_at) return { kind: 'invalid' as const };
    await repo.markRefreshTokenUsed(trx, row.id);
    const next = await issueRefreshToken(trx, deps.config, row.user_id, row.family_id);
    return { kind: 'ok' as const, userId: row.user_id, refreshToken: next };
  });
  switch (outcome.kind) {
    case 'ok':
      return { accessToken: deps.signAccess(outcome.userId), refreshToken: outcome.refreshToken, tokenType: 'Bearer', expiresIn: deps.accessTtlSeconds };
    case 'reused':
      throw unauthorized('This refresh token was already used; all sessions from it have been signed out', 'REFRESH_TOKEN_REUSED');
    case 'expired':
      throw unauthorized('The refresh token has expired; log in again', 'REFRESH_TOKEN_EXPIRED');
    default:
      throw unauthorized('The refresh token is not valid; log in again', 'INVALID_REFRESH_TOKEN');
  }
}

/** Signs out a session: its refresh token family is revoked. Unknown tokens are ignored. */
export async function logout(db: Db, refreshToken: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await repo.findRefreshTokenForUpdate(trx, sha256(refreshToken));
    if (row) await repo.revokeFamily(trx, row.family_id);
  });
}
