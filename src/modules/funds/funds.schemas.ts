import { Type } from '@fastify/type-provider-typebox';
import { EMERGENCY_KINDS, FUND_STATUSES, FUNDING_SOURCES } from '../../db/types.js';
import { StringEnum, Timestamp, Uuid } from '../../lib/schemas.js';
import { DECISION_TYPES } from './tally.js';

const Cents = Type.Integer({ minimum: 0, maximum: 9_000_000_000_000, description: 'Amount in cents (分)' });
export const FundStatus = StringEnum(FUND_STATUSES);

export const CreateFundRequestBody = Type.Object(
  {
    communityId: Uuid,
    title: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 20_000 })),
    path: StringEnum(['normal', 'emergency'] as const, { description: 'emergency: no owners’ vote; reviewed at once; noticed after the fact' }),
    emergencyKind: Type.Optional(StringEnum(EMERGENCY_KINDS)),
    decisionType: StringEnum(DECISION_TYPES as unknown as readonly ['use_fund', 'raise_fund', 'renovation', 'change_use'], {
      description: 'use_fund: more than half of participating area and headcount; the others: at least three quarters',
    }),
    scope: Type.Object(
      { buildingIds: Type.Optional(Type.Array(Uuid, { maxItems: 500 })), unitIds: Type.Optional(Type.Array(Uuid, { maxItems: 50_000 })) },
      { additionalProperties: false, description: 'The buildings and/or units whose owners pay and vote' },
    ),
    budgetLines: Type.Array(Type.Object({ description: Type.String({ minLength: 1, maxLength: 500 }), amountCents: { ...Cents, minimum: 1 } }, { additionalProperties: false }), { minItems: 1, maxItems: 200 }),
    funding: Type.Array(Type.Object({ source: StringEnum(FUNDING_SOURCES), amountCents: Cents }, { additionalProperties: false }), {
      minItems: 1,
      maxItems: 6,
      description: 'Must add up to the budget exactly',
    }),
    ticketIds: Type.Optional(Type.Array(Uuid, { maxItems: 50 })),
    facilityIds: Type.Optional(Type.Array(Uuid, { maxItems: 200 })),
    contractorOrgId: Type.Optional(Type.Union([Uuid, Type.Null()])),
    voteOpensAt: Type.Optional(Timestamp),
    voteClosesAt: Type.Optional(Timestamp),
    noticeDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 60, default: 7 })),
  },
  { additionalProperties: false },
);

export const FundTransitionBody = Type.Object(
  {
    to: FundStatus,
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
    voteClosesAt: Type.Optional(Timestamp),
    actualCostCents: Type.Optional(Cents),
    fundShareCents: Type.Optional(Cents),
  },
  { additionalProperties: false },
);

export const BallotBody = Type.Object(
  {
    choice: StringEnum(['agree', 'disagree', 'abstain'] as const),
    channel: Type.Optional(StringEnum(['online', 'paper', 'proxy'] as const)),
    ownerId: Type.Optional(Uuid),
    scanDocumentId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);

export const FundRequest = Type.Object({
  id: Uuid,
  ref: Type.Integer(),
  communityId: Uuid,
  title: Type.String(),
  description: Type.String(),
  path: Type.String(),
  emergencyKind: Type.Union([Type.String(), Type.Null()]),
  decisionType: Type.String(),
  status: FundStatus,
  budgetCents: Type.Integer(),
  approvalMode: Type.String(),
  contractorOrgId: Type.Union([Uuid, Type.Null()]),
  voteOpensAt: Type.Union([Timestamp, Type.Null()]),
  voteClosesAt: Type.Union([Timestamp, Type.Null()]),
  noticeDays: Type.Integer(),
  noticeEndsAt: Type.Union([Timestamp, Type.Null()]),
  afterFactNoticeAt: Type.Union([Timestamp, Type.Null()]),
  outcome: Type.Union([Type.String(), Type.Null()]),
  approvedAt: Type.Union([Timestamp, Type.Null()]),
  worksReportedAt: Type.Union([Timestamp, Type.Null()]),
  actualCostCents: Type.Union([Type.Integer(), Type.Null()]),
  fundShareCents: Type.Union([Type.Integer(), Type.Null()]),
  settledAt: Type.Union([Timestamp, Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
