import { Type } from '@fastify/type-provider-typebox';
import { FACILITY_CATEGORIES } from '../../db/types.js';
import { ListQuery, StringEnum, Timestamp, Uuid } from '../../lib/schemas.js';

export const TASK_STATUSES = ['scheduled', 'in_progress', 'done', 'missed', 'cancelled'] as const;
const Severity = StringEnum(['low', 'medium', 'high', 'critical'] as const, { description: 'A failed item of this severity opens a ticket of priority critical P1, high P2, medium P3, low P4' });
const Category = StringEnum(FACILITY_CATEGORIES);
const Kind = StringEnum(['inspection', 'patrol'] as const, { description: 'patrol (电子巡查): completed by QR check-ins along the route, in order' });
const Minutes = (min: number, description: string) => Type.Integer({ minimum: min, maximum: 44_640, description });

export const ChecklistItem = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$', description: 'Stable id the results refer to' }),
    text: Type.String({ minLength: 1, maxLength: 500 }),
    textEn: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'English text beside a Chinese one' })),
    severity: Severity,
  },
  { additionalProperties: false },
);

const planFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  category: Type.Optional({ ...Category, description: 'The plan’s category (duty holder, KPIs); default: the first of categories, or the most common among facilityIds' }),
  categories: Type.Optional(Type.Array(Category, { minItems: 1, maxItems: FACILITY_CATEGORIES.length, description: 'Inspect every facility in service of these categories' })),
  facilityIds: Type.Optional(Type.Array(Uuid, { minItems: 1, maxItems: 500, description: 'An explicit list; for a patrol, the route in order' })),
  rrule: Type.String({ minLength: 1, maxLength: 500, description: 'RFC 5545 RRULE on the community’s local clock, e.g. FREQ=MONTHLY;BYMONTHDAY=-1 (at most hourly)' }),
  dtstart: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}$', description: 'Local wall time of the first occurrence in the community’s time zone, YYYY-MM-DDTHH:MM' }),
  checklist: Type.Array(ChecklistItem, { maxItems: 50 }),
  assigneeOrgId: Type.Optional(Type.Union([Uuid, Type.Null()], { description: 'Default (absent or null): the duty holder of the category, followed when the duty changes hands' })),
  assigneeUserId: Type.Optional(Type.Union([Uuid, Type.Null()], { description: 'A member of the assignee organization' })),
  leadTimeMinutes: Type.Optional(Minutes(0, 'How long before each occurrence the task opens for work (default 0)')),
  dueWindowMinutes: Type.Optional(Minutes(1, 'The task is due this long after its occurrence (default 1440)')),
  escalateAfterMinutes: Type.Optional(Minutes(1, 'Still not done this long past due: the owners’ committee is told (default 2880)')),
};

export const CreatePlanBody = Type.Object({ communityId: Uuid, kind: Type.Optional({ ...Kind, default: 'inspection' }), ...planFields }, { additionalProperties: false });

export const UpdatePlanBody = Type.Object(
  {
    name: Type.Optional(planFields.name),
    category: planFields.category,
    categories: planFields.categories,
    facilityIds: planFields.facilityIds,
    rrule: Type.Optional(planFields.rrule),
    dtstart: Type.Optional(planFields.dtstart),
    checklist: Type.Optional(planFields.checklist),
    assigneeOrgId: planFields.assigneeOrgId,
    assigneeUserId: planFields.assigneeUserId,
    leadTimeMinutes: planFields.leadTimeMinutes,
    dueWindowMinutes: planFields.dueWindowMinutes,
    escalateAfterMinutes: planFields.escalateAfterMinutes,
    active: Type.Optional(Type.Boolean({ description: 'true reactivates a deactivated plan' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Plan = Type.Object({
  id: Uuid,
  communityId: Uuid,
  name: Type.String(),
  kind: Kind,
  template: Type.Union([Type.String(), Type.Null()]),
  category: Type.String(),
  categories: Type.Array(Type.String()),
  facilityIds: Type.Array(Uuid),
  rrule: Type.String(),
  dtstart: Type.String(),
  timeZone: Type.String(),
  checklist: Type.Array(ChecklistItem),
  assignee: Type.Object({
    source: StringEnum(['duty_holder', 'explicit'] as const),
    organizationId: Type.Union([Uuid, Type.Null()]),
    userId: Type.Union([Uuid, Type.Null()]),
  }),
  leadTimeMinutes: Type.Integer(),
  dueWindowMinutes: Type.Integer(),
  escalateAfterMinutes: Type.Integer(),
  active: Type.Boolean(),
  version: Type.Integer(),
  nextOccurrenceAt: Type.Union([Timestamp, Type.Null()], { description: 'The first occurrence without a task yet' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const PlanWrite = Type.Object({
  plan: Plan,
  tasksCreated: Type.Integer(),
  tasksCancelled: Type.Optional(Type.Integer()),
});

export const PlanListQuery = ListQuery({
  communityId: Type.Optional(Uuid),
  active: Type.Optional(Type.Boolean()),
  kind: Type.Optional(Kind),
});

export const Suggestion = Type.Object({
  template: Type.String(),
  name: Type.String(),
  description: Type.String(),
  kind: Kind,
  categories: Type.Array(Type.String()),
  rrule: Type.String(),
  dtstart: Type.String(),
  timeZone: Type.String(),
  leadTimeMinutes: Type.Integer(),
  dueWindowMinutes: Type.Integer(),
  checklist: Type.Array(ChecklistItem),
  translations: Type.Record(Type.String(), Type.Object({ name: Type.String(), checklist: Type.Array(Type.Object({ id: Type.String(), text: Type.String() })) })),
  facilities: Type.Integer({ description: 'Facilities in service the plan would cover now' }),
  nextOccurrences: Type.Array(Timestamp),
  adopted: Type.Boolean(),
});

export const AdoptBody = Type.Object(
  {
    templates: Type.Optional(Type.Array(Type.String({ maxLength: 40 }), { maxItems: 20, description: 'Which defaults (all when absent)' })),
    locale: Type.Optional(StringEnum(['zh-CN', 'en'] as const, { description: 'Language of names and checklists (default: yours)' })),
  },
  { additionalProperties: false },
);

export const TaskListQuery = ListQuery({
  communityId: Type.Optional(Uuid),
  planId: Type.Optional(Uuid),
  status: Type.Optional(Type.String({ maxLength: 100, description: `Comma-separated: ${TASK_STATUSES.join(', ')}; or open (scheduled, in_progress, missed)` })),
  kind: Type.Optional(Kind),
  dueFrom: Type.Optional(Timestamp),
  dueTo: Type.Optional(Timestamp),
  assignee: Type.Optional(StringEnum(['me'] as const, { description: 'me: assigned to me or one of my organizations' })),
});

export const Task = Type.Object({
  id: Uuid,
  planId: Uuid,
  planName: Type.String(),
  planVersion: Type.Integer(),
  communityId: Uuid,
  kind: Kind,
  category: Type.String(),
  occurrenceAt: Timestamp,
  availableAt: Timestamp,
  dueAt: Timestamp,
  status: StringEnum(TASK_STATUSES),
  facilityIds: Type.Array(Uuid),
  progress: Type.Object({ done: Type.Integer(), total: Type.Integer() }),
  assigneeOrgId: Type.Union([Uuid, Type.Null()]),
  assigneeUserId: Type.Union([Uuid, Type.Null()]),
  completedAt: Type.Union([Timestamp, Type.Null()]),
  completedBy: Type.Union([Uuid, Type.Null()]),
  onTime: Type.Union([Type.Boolean(), Type.Null()]),
  missedAt: Type.Union([Timestamp, Type.Null()]),
  escalatedAt: Type.Union([Timestamp, Type.Null()]),
  cancelledAt: Type.Union([Timestamp, Type.Null()]),
  createdAt: Timestamp,
});

const ChecklistAnswer = Type.Object(
  {
    itemId: Type.String({ minLength: 1, maxLength: 40 }),
    ok: Type.Boolean(),
    note: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);

export const Result = Type.Object({
  id: Uuid,
  facilityId: Uuid,
  outcome: StringEnum(['ok', 'fault'] as const),
  notes: Type.String(),
  checklist: Type.Array(ChecklistAnswer),
  photoIds: Type.Array(Uuid),
  ticketId: Type.Union([Uuid, Type.Null()]),
  recordedBy: Uuid,
  recordedAt: Timestamp,
});

export const Checkin = Type.Object({
  id: Uuid,
  facilityId: Uuid,
  facilityName: Type.Optional(Type.String()),
  userId: Type.Optional(Uuid),
  taskId: Type.Union([Uuid, Type.Null()]),
  position: Type.Union([Type.Integer(), Type.Null()], { description: 'Route stop (0-based) this check-in completed, null when it advanced none' }),
  checkedInAt: Timestamp,
});

export const TaskDetail = Type.Object({
  ...Task.properties,
  checklist: Type.Array(ChecklistItem, { description: 'The checklist of the plan version the task was made under' }),
  facilities: Type.Array(
    Type.Object({
      id: Uuid,
      name: Type.String(),
      category: Type.String(),
      status: Type.String(),
      position: Type.Integer({ description: 'Order in the task (a patrol’s route)' }),
      result: Type.Union([Result, Type.Null()]),
    }),
  ),
  checkins: Type.Array(Checkin),
});

export const ResultsBody = Type.Object(
  {
    results: Type.Array(
      Type.Object(
        {
          facilityId: Uuid,
          outcome: StringEnum(['ok', 'fault'] as const, { description: 'fault opens a ticket (kind inspection_finding) for the facility' }),
          notes: Type.Optional(Type.String({ maxLength: 5000 })),
          checklist: Type.Array(ChecklistAnswer, { maxItems: 50 }),
          photoIds: Type.Optional(Type.Array(Uuid, { maxItems: 20, description: 'Ids of uploaded photos, kept with the result' })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 500 },
    ),
  },
  { additionalProperties: false },
);

export const ResultsResponse = Type.Object({
  task: Task,
  results: Type.Array(Result),
});

export const CheckinBody = Type.Object({ qrToken: Type.String({ minLength: 8, maxLength: 200, description: 'The token of the facility’s QR code' }) }, { additionalProperties: false });

export const CheckinResponse = Type.Object({
  checkin: Checkin,
  advanced: Type.Boolean({ description: 'Whether the check-in moved a patrol along its route' }),
  task: Type.Union([Task, Type.Null()]),
  expected: Type.Union([Type.Object({ facilityId: Uuid, facilityName: Type.String(), position: Type.Integer() }), Type.Null()], { description: 'Out of order: the stop that is next' }),
  message: Type.String(),
});
