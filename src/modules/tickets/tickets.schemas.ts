import { Type } from '@fastify/type-provider-typebox';
import { FACILITY_CATEGORIES } from '../../db/types.js';
import { StringEnum, Timestamp, Uuid } from '../../lib/schemas.js';
import { PRIORITIES } from './sla.js';
import { HOLD_REASONS, TICKET_STATUSES } from './state-machine.js';

export const Priority = StringEnum(PRIORITIES);
export const TicketStatus = StringEnum(TICKET_STATUSES);
export const Category = StringEnum(FACILITY_CATEGORIES);

export const CreateTicketBody = Type.Object(
  {
    communityId: Uuid,
    kind: Type.Optional(StringEnum(['fault', 'rectification'] as const, { description: 'rectification: an order from an authority, with its own deadline' })),
    title: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 10_000 })),
    category: Type.Optional(Category),
    priority: Type.Optional({ ...Priority, description: 'P1 emergency … P4 low; default P3' }),
    facilityId: Type.Optional(Uuid),
    unitId: Type.Optional(Uuid),
    isPublic: Type.Optional(Type.Boolean({ description: 'Visible to the community’s owners (common parts); default true' })),
    rectificationDeadline: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

export const TransitionBody = Type.Object(
  {
    to: TicketStatus,
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: `Required for on_hold (${HOLD_REASONS.join(', ')}) and cancelled (free text)` })),
  },
  { additionalProperties: false },
);

export const UpdateTicketBody = Type.Object(
  {
    priority: Type.Optional(Priority),
    category: Type.Optional(Category),
    assigneeUserId: Type.Optional(Type.Union([Uuid, Type.Null()])),
    assigneeOrgId: Type.Optional(Type.Union([Uuid, Type.Null()])),
    isPublic: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const CommentBody = Type.Object(
  {
    body: Type.String({ minLength: 1, maxLength: 10_000 }),
    internal: Type.Optional(Type.Boolean({ description: 'Staff only; hidden from the reporter' })),
  },
  { additionalProperties: false },
);

export const RatingBody = Type.Object(
  {
    score: Type.Integer({ minimum: 1, maximum: 5 }),
    comment: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

const SlaTarget = Type.Object({
  dueAt: Timestamp,
  status: StringEnum(['running', 'paused', 'met', 'breached'] as const),
  remainingMs: Type.Integer(),
  fractionUsed: Type.Number(),
  breachedAt: Type.Union([Timestamp, Type.Null()]),
});

export const Ticket = Type.Object({
  id: Uuid,
  ref: Type.Integer({ description: 'Human reference number' }),
  communityId: Uuid,
  kind: Type.String(),
  channel: Type.String(),
  category: Type.String(),
  priority: Priority,
  status: TicketStatus,
  title: Type.String(),
  description: Type.String(),
  facilityId: Type.Union([Uuid, Type.Null()]),
  unitId: Type.Union([Uuid, Type.Null()]),
  isPublic: Type.Boolean(),
  reporter: Type.Object({
    userId: Type.Union([Uuid, Type.Null()]),
    name: Type.Union([Type.String(), Type.Null()]),
    phone: Type.Union([Type.String(), Type.Null()], { description: 'Masked unless your role needs it' }),
  }),
  dutyHolderOrgId: Type.Union([Uuid, Type.Null()]),
  assigneeUserId: Type.Union([Uuid, Type.Null()]),
  assigneeOrgId: Type.Union([Uuid, Type.Null()]),
  alarmCount: Type.Integer(),
  holdReason: Type.Union([Type.String(), Type.Null()]),
  cancelReason: Type.Union([Type.String(), Type.Null()]),
  openedAt: Timestamp,
  acknowledgedAt: Type.Union([Timestamp, Type.Null()]),
  resolvedAt: Type.Union([Timestamp, Type.Null()]),
  closedAt: Type.Union([Timestamp, Type.Null()]),
  respondBy: Type.Union([Timestamp, Type.Null()]),
  resolveBy: Type.Union([Timestamp, Type.Null()]),
  rectificationDeadline: Type.Union([Timestamp, Type.Null()]),
  escalationLevel: Type.Integer({ description: '0 none, 1 breached, 2 committee, 3 authority' }),
  rating: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const TicketDetail = Type.Object({
  ...Ticket.properties,
  sla: Type.Object({ response: SlaTarget, resolution: SlaTarget }),
  comments: Type.Array(Type.Object({ id: Uuid, body: Type.String(), internal: Type.Boolean(), authorUserId: Type.Union([Uuid, Type.Null()]), authorName: Type.Union([Type.String(), Type.Null()]), createdAt: Timestamp })),
  holds: Type.Array(Type.Object({ reason: Type.String(), from: Timestamp, to: Type.Union([Timestamp, Type.Null()]) })),
  allowedTransitions: Type.Array(TicketStatus, { description: 'Moves you may make now' }),
});

export const TicketListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 300 })),
  communityId: Type.Optional(Uuid),
  status: Type.Optional(Type.String({ maxLength: 200, description: 'Comma-separated statuses, or "open"' })),
  category: Type.Optional(Category),
  priority: Type.Optional(Priority),
  overdue: Type.Optional(Type.Boolean()),
  assigneeUserId: Type.Optional(Type.Union([Uuid, Type.Literal('me')])),
  assigneeOrgId: Type.Optional(Uuid),
  facilityId: Type.Optional(Uuid),
  reporter: Type.Optional(Type.Union([Uuid, Type.Literal('me')])),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Search title and description (works for Chinese)' })),
  sort: Type.Optional(StringEnum(['created', 'due'] as const, { description: 'created: newest first (default); due: soonest resolution target first' })),
});
