import { Type } from '@fastify/type-provider-typebox';
import { Timestamp, Uuid } from '../../lib/schemas.js';

export const CreateCommunityBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    district: Type.String({ minLength: 1, maxLength: 100, description: 'District (区) whose housing authority supervises it' }),
    address: Type.Optional(Type.String({ maxLength: 500 })),
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone; default Asia/Shanghai' })),
    propertyCompanyId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);

export const Community = Type.Object({
  id: Uuid,
  name: Type.String(),
  district: Type.String(),
  address: Type.Union([Type.String(), Type.Null()]),
  timeZone: Type.String(),
  createdAt: Timestamp,
});

export const CreateBuildingBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });

export const Building = Type.Object({ id: Uuid, communityId: Uuid, name: Type.String(), createdAt: Timestamp });

export const CommunityParams = Type.Object({ id: Uuid });
