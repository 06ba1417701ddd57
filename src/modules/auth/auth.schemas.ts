import { Type } from '@fastify/type-provider-typebox';
import { Uuid } from '../../lib/schemas.js';

export const LoginBody = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 10, maxLength: 200 }) }, { additionalProperties: false });

export const TokenPair = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Access token lifetime in seconds' }),
});

export const Me = Type.Object({
  id: Uuid,
  email: Type.String(),
  name: Type.String(),
  locale: Type.Union([Type.Literal('zh-CN'), Type.Literal('en')]),
  isPlatformAdmin: Type.Boolean(),
  memberships: Type.Array(
    Type.Object({
      organizationId: Uuid,
      organizationName: Type.String(),
      kind: Type.String(),
      role: Type.String(),
      communityId: Type.Union([Uuid, Type.Null()]),
      district: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
  ownerOf: Type.Array(Type.Object({ ownerId: Uuid, communityId: Uuid })),
});
