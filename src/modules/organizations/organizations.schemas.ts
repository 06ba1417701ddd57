import { Type } from '@fastify/type-provider-typebox';
import { MEMBERSHIP_ROLES, ORGANIZATION_KINDS } from '../../db/types.js';
import { StringEnum, Timestamp, Uuid } from '../../lib/schemas.js';

export const OrganizationKind = StringEnum(ORGANIZATION_KINDS);
export const MembershipRole = StringEnum(MEMBERSHIP_ROLES);

export const CreateOrganizationBody = Type.Object(
  {
    kind: OrganizationKind,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    communityId: Type.Optional(Uuid),
    district: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);

export const Organization = Type.Object({
  id: Uuid,
  kind: OrganizationKind,
  name: Type.String(),
  communityId: Type.Union([Uuid, Type.Null()]),
  district: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
});

export const AddMemberBody = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 254 }),
    role: MembershipRole,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Required when the person has no account yet' })),
    password: Type.Optional(Type.String({ minLength: 10, maxLength: 200, description: 'Initial password; required when the person has no account yet' })),
    phone: Type.Optional(Type.String({ pattern: '^[0-9+\\- ]{5,20}$' })),
    locale: Type.Optional(Type.Union([Type.Literal('zh-CN'), Type.Literal('en')])),
  },
  { additionalProperties: false },
);

export const Member = Type.Object({
  userId: Uuid,
  organizationId: Uuid,
  email: Type.String(),
  name: Type.String(),
  role: MembershipRole,
  createdAccount: Type.Optional(Type.Boolean()),
});
