import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError } from '../../lib/errors.js';
import { errors } from '../../lib/schemas.js';
import { requireActor } from '../../plugins/access.js';
import * as users from '../users/users.repository.js';
import { LoginBody, Me, RefreshBody, TokenPair } from './auth.schemas.js';
import * as auth from './auth.service.js';

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app.deps;
  const deps = {
    db,
    config,
    accessTtlSeconds: config.accessTokenTtlSeconds,
    signAccess: (userId: string) => app.jwt.sign({ sub: userId, typ: 'access' }),
  };
  const loginLimit = {
    max: config.loginRateLimitPerMinute,
    timeWindow: '1 minute',
    errorResponseBuilder: (_req: unknown, ctx: { after: string }) =>
      new AppError(429, 'RATE_LIMITED', `Too many login attempts from this address; try again in ${ctx.after}`),
  };

  app.post(
    '/auth/login',
    {
      config: { rateLimit: loginLimit },
      schema: {
        tags: ['auth'],
        summary: 'Log in with email and password',
        description: `Returns a short-lived access token and a rotating refresh token. After ${config.loginMaxFailures} failures in a row the account is locked for ${config.lockoutMinutes} minutes (429 ACCOUNT_LOCKED); each address may try ${config.loginRateLimitPerMinute} times a minute (429 RATE_LIMITED).`,
        body: LoginBody,
        response: { 200: TokenPair, ...errors(400, 401, 429, 503) },
      },
    },
    async (request) => auth.login(deps, request.body.email, request.body.password),
  );

  app.post(
    '/auth/refresh',
    {
      config: { rateLimit: { ...loginLimit, max: config.loginRateLimitPerMinute * 3 } },
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new pair (the old one is spent)',
        description: 'Reusing a spent refresh token revokes every token of its family (401 REFRESH_TOKEN_REUSED).',
        body: RefreshBody,
        response: { 200: TokenPair, ...errors(400, 401, 429, 503) },
      },
    },
    async (request) => auth.refresh(deps, request.body.refreshToken),
  );

  app.post(
    '/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign out: revoke the refresh token and its family',
        body: RefreshBody,
        response: { 204: Type.Null(), ...errors(400, 503) },
      },
    },
    async (request, reply) => {
      await auth.logout(db, request.body.refreshToken);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['auth'],
        summary: 'The current user, their memberships and the owners they are',
        security: [{ bearerAuth: [] }],
        response: { 200: Me, ...errors(401, 503) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const [memberships, owners] = await Promise.all([
        users.listMemberships(db, actor.userId),
        users.listOwnerships(db, actor.userId),
      ]);
      return {
        id: actor.userId,
        email: actor.email,
        name: actor.name,
        locale: actor.locale,
        isPlatformAdmin: actor.isPlatformAdmin,
        memberships: memberships.map((m) => ({
          organizationId: m.organization_id,
          organizationName: m.name,
          kind: m.kind,
          role: m.role,
          communityId: m.community_id,
          district: m.district,
        })),
        ownerOf: owners.map((o) => ({ ownerId: o.id, communityId: o.community_id })),
      };
    },
  );
};

export default authRoutes;
