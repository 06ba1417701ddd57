import fp from 'fastify-plugin';
import fastifyJwt from '@fastify/jwt';
import type { FastifyRequest } from 'fastify';
import type { Actor } from './access.js';
import type { DbOrTrx } from '../db/index.js';
import { unauthorized } from '../lib/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor?: Actor;
  }
  interface FastifyInstance {
    /** preHandler: verifies the access token and loads the actor, or answers 401. */
    authenticate: (request: FastifyRequest) => Promise<void>;
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string; typ: 'access' };
    user: { sub: string; typ: 'access' };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Loads who the token's subject is now: memberships are read fresh so removals take effect at once. */
export async function loadActor(db: DbOrTrx, userId: string): Promise<Actor | undefined> {
  const user = await db
    .selectFrom('users')
    .select(['id', 'email', 'name', 'locale', 'is_platform_admin', 'disabled_at'])
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!user || user.disabled_at) return undefined;
  const memberships = await db
    .selectFrom('memberships as m')
    .innerJoin('organizations as o', 'o.id', 'm.organization_id')
    .select(['m.organization_id', 'm.role', 'o.kind', 'o.community_id', 'o.district'])
    .where('m.user_id', '=', userId)
    .execute();
  return {
    userId: user.id,
    email: user.email,
    name: user.name,
    locale: user.locale,
    isPlatformAdmin: user.is_platform_admin || memberships.some((m) => m.kind === 'platform' && m.role === 'manager'),
    memberships: memberships.map((m) => ({
      organizationId: m.organization_id,
      kind: m.kind,
      role: m.role,
      communityId: m.community_id,
      district: m.district,
    })),
  };
}

export default fp(
  async (app, opts: { secret: string; accessTokenTtlSeconds: number }) => {
    await app.register(fastifyJwt, {
      secret: opts.secret,
      // Only HS256: tokens with alg "none" or another algorithm are refused.
      sign: { algorithm: 'HS256', expiresIn: opts.accessTokenTtlSeconds },
      verify: { algorithms: ['HS256'] },
    });
    app.decorateRequest('actor', undefined);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      let payload: { sub: string; typ: string };
      try {
        payload = await request.jwtVerify();
      } catch (err) {
        const expired = (err as { code?: string }).code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED';
        throw unauthorized(expired ? 'Access token expired; refresh it' : 'A valid access token is required', expired ? 'TOKEN_EXPIRED' : 'UNAUTHORIZED');
      }
      // A subject that is not a uuid would make the users lookup fail with a 400/500: refuse it here.
      if (payload.typ !== 'access' || typeof payload.sub !== 'string' || !UUID.test(payload.sub)) throw unauthorized('A valid access token is required');
      const actor = await loadActor(app.deps.db, payload.sub);
      if (!actor) throw unauthorized('This account no longer exists or is disabled');
      request.actor = actor;
    });
  },
  { name: 'auth', dependencies: ['deps'] },
);
