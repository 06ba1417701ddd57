import fp from 'fastify-plugin';
import fastifyJwt from '@fastify/jwt';
import { createVerifier, TokenError } from 'fast-jwt';
import type { FastifyRequest } from 'fastify';
import { actorCommunitiesColumns, actorCommunitiesFrom, type Actor } from './access.js';
import { sql } from 'kysely';
import type { DbOrTrx } from '../db/index.js';
import type { MembershipRole, OrganizationKind } from '../db/types.js';
import { unauthorized } from '../lib/errors.js';
import { ReferenceCache, type ChangeFeed } from '../db/change-feed.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor?: Actor;
  }
  interface FastifyInstance {
    /** preHandler: verifies the access token and loads the actor, or answers 401. */
    authenticate: (request: FastifyRequest) => Promise<void>;
    /** Actors by user id (hit and miss counts on /metrics). */
    actorCache: ReferenceCache<Actor>;
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string; typ: 'access' };
    user: { sub: string; typ: 'access' };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BEARER = /^Bearer ([^\s]+)$/i;

/** Verified access tokens kept (each a few hundred bytes): about one per active session. */
const VERIFIED_TOKENS_CACHED = 10_000;

/** Loads who the token's subject is now: memberships are read fresh so removals take effect at once. */
export async function loadActor(db: DbOrTrx, userId: string): Promise<Actor | undefined> {
  return (await loadActorUntil(db, userId))?.value;
}

/** The tables an actor is read from: a change to any of them empties the actor cache. */
export const ACTOR_TABLES = ['users', 'memberships', 'organizations', 'duty_assignments', 'owners'] as const;

/**
 * loadActor, with until when the actor holds as read: the next start or end of a duty of one of
 * the user's organizations (the only part of an actor that changes with time alone).
 */
export async function loadActorUntil(db: DbOrTrx, userId: string): Promise<{ value: Actor; validUntil: Date | null } | undefined> {
  // One round trip: the user with their memberships as a JSON array (every request does this).
  const { rows } = await sql<{
    id: string;
    email: string;
    name: string;
    locale: Actor['locale'];
    is_platform_admin: boolean;
    disabled_at: Date | null;
    memberships: Array<{ organization_id: string; role: MembershipRole; kind: OrganizationKind; community_id: string | null; district: string | null }>;
    duty_communities: Array<{ community_id: string; organization_id: string }>;
    owned_communities: string[];
    next_duty_change: Date | null;
  }>`
    SELECT u.id, u.email, u.name, u.locale, u.is_platform_admin, u.disabled_at,
      COALESCE((SELECT json_agg(json_build_object('organization_id', m.organization_id, 'role', m.role, 'kind', o.kind, 'community_id', o.community_id, 'district', o.district))
                FROM memberships m JOIN organizations o ON o.id = m.organization_id
                WHERE m.user_id = u.id), '[]'::json) AS memberships,
      ${actorCommunitiesColumns},
      (SELECT min(CASE WHEN d.valid_from > now() THEN d.valid_from ELSE d.valid_to END)
       FROM memberships dm JOIN duty_assignments d ON d.organization_id = dm.organization_id
       WHERE dm.user_id = u.id AND (d.valid_from > now() OR d.valid_to > now())) AS next_duty_change
    FROM users u WHERE u.id = ${userId}`.execute(db);
  const user = rows[0];
  if (!user || user.disabled_at) return undefined;
  const memberships = user.memberships;
  const actor: Actor = {
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
    communities: actorCommunitiesFrom(user),
  };
  return { value: actor, validUntil: user.next_duty_change };
}

export default fp(
  async (app, opts: { secret: string; accessTokenTtlSeconds: number; changeFeed?: ChangeFeed; cacheTtlMs: number }) => {
    // Every authenticated request needs its actor: cached per user, emptied by the change feed
    // when any table it is read from changes (a removed membership or a disabled account takes
    // effect within the notification's delivery, milliseconds). Without a feed: read every time.
    const actors = new ReferenceCache<Actor>(opts.changeFeed, ACTOR_TABLES, opts.cacheTtlMs);
    app.decorate('actorCache', actors);
    await app.register(fastifyJwt, {
      secret: opts.secret,
      // Only HS256: tokens with alg "none" or another algorithm are refused.
      sign: { algorithm: 'HS256', expiresIn: opts.accessTokenTtlSeconds },
      verify: { algorithms: ['HS256'] },
    });
    // Signing stays with @fastify/jwt; every request's verification uses fast-jwt (what it wraps)
    // directly, with its cache of verified tokens: a client presents the same token on every
    // request until it expires, and checking its signature and claims again each time was a
    // twentieth of a ticket creation's CPU. An entry never outlives the token's `exp` (fast-jwt
    // caps it there), and the key is a hash of the whole token, so a changed byte is verified afresh.
    // Access tokens are not revocable one by one; a disabled user is refused by the actor check below.
    const verifyAccessToken = createVerifier({
      key: opts.secret,
      algorithms: ['HS256'],
      cache: VERIFIED_TOKENS_CACHED,
      cacheTTL: opts.accessTokenTtlSeconds * 1000,
    });
    app.decorateRequest('actor', undefined);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
      if (!token) throw unauthorized('A valid access token is required');
      let payload: { sub: string; typ: string };
      try {
        payload = verifyAccessToken(token) as { sub: string; typ: string };
      } catch (err) {
        const expired = err instanceof TokenError && err.code === TokenError.codes.expired;
        throw unauthorized(expired ? 'Access token expired; refresh it' : 'A valid access token is required', expired ? 'TOKEN_EXPIRED' : 'UNAUTHORIZED');
      }
      // A subject that is not a uuid would make the users lookup fail with a 400/500: refuse it here.
      if (payload.typ !== 'access' || typeof payload.sub !== 'string' || !UUID.test(payload.sub)) throw unauthorized('A valid access token is required');
      const actor = await actors.get(payload.sub, () => loadActorUntil(app.deps.db, payload.sub));
      if (!actor) throw unauthorized('This account no longer exists or is disabled');
      request.actor = actor;
    });
  },
  { name: 'auth', dependencies: ['deps'] },
);
