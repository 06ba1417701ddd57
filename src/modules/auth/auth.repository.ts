import type { DbOrTrx } from '../../db/index.js';

export function insertRefreshToken(db: DbOrTrx, row: { user_id: string; family_id: string; token_hash: string; expires_at: Date }) {
  return db.insertInto('refresh_tokens').values(row).execute();
}

export function findRefreshTokenForUpdate(db: DbOrTrx, tokenHash: string) {
  return db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).forUpdate().executeTakeFirst();
}

export function markRefreshTokenUsed(db: DbOrTrx, id: string) {
  return db.updateTable('refresh_tokens').set({ used_at: new Date() }).where('id', '=', id).execute();
}

export function revokeFamily(db: DbOrTrx, familyId: string) {
  return db.updateTable('refresh_tokens').set({ revoked_at: new Date() }).where('family_id', '=', familyId).where('revoked_at', 'is', null).execute();
}
