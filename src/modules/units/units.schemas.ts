import { Type } from '@fastify/type-provider-typebox';
import { Uuid } from '../../lib/schemas.js';

// Any string is let through here and checked exactly by parseHundredths in the handler: with the
// app's coerceTypes, a string failing a pattern in the first branch would be coerced to a float by
// the number branch ("89.999999999999999999" → 90) and silently lose exactness.
const Decimal2 = Type.Union([Type.String({ maxLength: 32 }), Type.Number({ minimum: 0 })]);

export const CreateUnitBody = Type.Object(
  {
    buildingId: Uuid,
    number: Type.String({ minLength: 1, maxLength: 50 }),
    areaM2: { ...Decimal2, description: 'Registered area of the exclusive part in m², at most 2 decimals, preferably as a string (e.g. "89.37")' },
    firstDeposit: Type.Optional({ ...Decimal2, description: 'First maintenance-fund deposit in yuan, at most 2 decimals' }),
    owners: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 100 }),
          phone: Type.Optional(Type.String({ pattern: '^\\+?[0-9][0-9 -]{4,19}$' })),
          email: Type.Optional(Type.String({ format: 'email', maxLength: 254 })),
          isDeveloper: Type.Optional(Type.Boolean({ description: 'Held by the developer (unsold or undelivered)' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 20 },
    ),
  },
  { additionalProperties: false },
);

export const Unit = Type.Object({
  id: Uuid,
  communityId: Uuid,
  buildingId: Uuid,
  building: Type.String(),
  number: Type.String(),
  areaCentiM2: Type.Integer({ description: 'Area in hundredths of m² (exact)' }),
  areaM2: Type.String(),
  firstDepositCents: Type.Integer(),
  owners: Type.Array(
    Type.Object({
      id: Uuid,
      name: Type.String(),
      phone: Type.Union([Type.String(), Type.Null()], { description: 'Masked unless your role needs it' }),
      isDeveloper: Type.Boolean(),
      hasAccount: Type.Boolean(),
    }),
  ),
});

export const ImportResult = Type.Object({
  rows: Type.Integer(),
  unitsCreated: Type.Integer(),
  buildingsCreated: Type.Integer(),
  ownersCreated: Type.Integer(),
  totalAreaM2: Type.String(),
});
