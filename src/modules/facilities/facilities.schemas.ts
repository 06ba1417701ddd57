import { Type } from '@fastify/type-provider-typebox';
import { FACILITY_CATEGORIES, FACILITY_STATUSES } from '../../db/types.js';
import { StringEnum, Timestamp, Uuid } from '../../lib/schemas.js';

export const FacilityCategory = StringEnum(FACILITY_CATEGORIES);
export const FacilityStatus = StringEnum(FACILITY_STATUSES);

export const CreateFacilityBody = Type.Object(
  {
    category: FacilityCategory,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    location: Type.Optional(Type.String({ maxLength: 500 })),
    buildingId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);

export const UpdateFacilityBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    location: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])),
    status: Type.Optional(FacilityStatus),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Facility = Type.Object({
  id: Uuid,
  communityId: Uuid,
  buildingId: Type.Union([Uuid, Type.Null()]),
  category: FacilityCategory,
  name: Type.String(),
  location: Type.Union([Type.String(), Type.Null()]),
  status: FacilityStatus,
  qrToken: Type.Optional(Type.String({ description: 'Shown to those who manage facilities (to print QR labels)' })),
  createdAt: Timestamp,
});

export const FacilityListQuery = Type.Object({
  category: Type.Optional(FacilityCategory),
  status: Type.Optional(FacilityStatus),
});
