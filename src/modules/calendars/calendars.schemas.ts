import { Type, type TSchema } from '@fastify/type-provider-typebox';
import { FACILITY_CATEGORIES } from '../../db/types.js';
import { StringEnum, Timestamp, Uuid } from '../../lib/schemas.js';
import { PRIORITIES } from '../tickets/sla.js';

/** Schemas of the business calendar, SLA policy and community settings routes. */

const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-4]):[0-5][0-9]$', description: "Local wall time 'HH:MM' (24:00 allowed as an end)" });
const LocalDate = Type.String({ format: 'date', description: "Local date 'YYYY-MM-DD' in the calendar's time zone" });

export const MAX_OVERRIDES = 1000;
/** The days endpoint answers at most this many days at once. */
export const MAX_DAYS = 366;

export const WorkingInterval = Type.Object({ start: HHMM, end: HHMM }, { additionalProperties: false });
export const CalendarOverride = Type.Object(
  { date: LocalDate, kind: StringEnum(['holiday', 'workday'] as const, { description: 'holiday: a day off; workday: a working day (wins over weekends and China’s table)' }) },
  { additionalProperties: false },
);

export const PutCalendarBody = Type.Object(
  {
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone; default: the current calendar’s, else the community’s' })),
    workingHours: Type.Array(WorkingInterval, { minItems: 1, maxItems: 24, description: 'Working intervals of a working day (any order; they must not overlap)' }),
    weekendDays: Type.Array(Type.Integer({ minimum: 0, maximum: 6 }), { maxItems: 7, uniqueItems: true, description: '0 = Sunday … 6 = Saturday' }),
    useChinaHolidays: Type.Boolean({ description: 'Apply mainland China’s official holidays and make-up workdays (调休)' }),
    overrides: Type.Array(CalendarOverride, { maxItems: MAX_OVERRIDES, description: 'The community’s own exceptions; one per date' }),
  },
  { additionalProperties: false },
);

const Coverage = Type.Object(
  { firstYear: Type.Integer(), lastYear: Type.Integer() },
  { description: 'Years for which China’s official arrangements are known; outside them only the weekend rule and overrides apply' },
);

export const Calendar = Type.Object({
  communityId: Uuid,
  isDefault: Type.Boolean({ description: 'True when the community has no calendar of its own (this is the default for its time zone)' }),
  timeZone: Type.String(),
  workingHours: Type.Array(WorkingInterval),
  weekendDays: Type.Array(Type.Integer()),
  useChinaHolidays: Type.Boolean(),
  overrides: Type.Array(CalendarOverride),
  updatedAt: Type.Union([Timestamp, Type.Null()]),
  chinaHolidays: Coverage,
});

export const DAY_REASONS = ['weekend', 'holiday', 'makeup_workday', 'override', 'workday'] as const;

export const CalendarDaysQuery = Type.Object({ from: LocalDate, to: LocalDate }, { additionalProperties: false });

export const CalendarDays = Type.Object({
  communityId: Uuid,
  timeZone: Type.String(),
  items: Type.Array(
    Type.Object({
      date: Type.String(),
      working: Type.Boolean(),
      reason: StringEnum(DAY_REASONS, { description: 'Why: override (the community’s own), holiday / makeup_workday (China’s table), weekend, or an ordinary workday' }),
      name: Type.Optional(Type.String({ description: 'The official label of a holiday or make-up workday, e.g. "National Day,国庆节,3"' })),
    }),
  ),
});

// ---------------------------------------------------------------------------------------------
// SLA policies
// ---------------------------------------------------------------------------------------------

export const TARGET_UNITS = ['minutes', 'hours', 'working_days'] as const;
export const Duration = Type.Object(
  { value: Type.Integer({ minimum: 1, maximum: 525_600 }), unit: StringEnum(TARGET_UNITS, { description: 'Working time in the policy’s calendar; a working day is one day of its working hours' }) },
  { additionalProperties: false },
);
export const Priority = StringEnum(PRIORITIES);
export const SlaCalendar = StringEnum(['24x7', 'working_hours'] as const);

export const SetSlaPolicyBody = Type.Object(
  {
    priority: Priority,
    category: Type.Optional(Type.Union([StringEnum(FACILITY_CATEGORIES), Type.Null()], { description: 'A facility category, or null/absent for every category without its own policy' })),
    respond: Duration,
    resolve: Duration,
    calendar: SlaCalendar,
  },
  { additionalProperties: false },
);

export const SlaPolicy = Type.Object({
  id: Uuid,
  communityId: Uuid,
  priority: Priority,
  category: Type.Union([Type.String(), Type.Null()]),
  respond: Duration,
  resolve: Duration,
  calendar: SlaCalendar,
  createdAt: Timestamp,
});

export const SlaPoliciesQuery = Type.Object(
  { category: Type.Optional(StringEnum(FACILITY_CATEGORIES, { description: 'Compute the effective matrix for this category (default: the priority-wide one)' })) },
  { additionalProperties: false },
);

export const SlaPolicies = Type.Object({
  communityId: Uuid,
  items: Type.Array(SlaPolicy),
  effective: Type.Array(
    Type.Object({
      priority: Priority,
      category: Type.Union([Type.String(), Type.Null()], { description: 'The category asked for (null: priority-wide)' }),
      source: StringEnum(['community', 'default'] as const),
      policyId: Type.Union([Uuid, Type.Null()], { description: 'The community policy that applies, if any' }),
      respond: Duration,
      resolve: Duration,
      calendar: SlaCalendar,
    }),
  ),
});

export const PolicyParams = Type.Object({ id: Uuid, policyId: Uuid });

// ---------------------------------------------------------------------------------------------
// Community settings
// ---------------------------------------------------------------------------------------------

const SettingsSla = Type.Object({ warnShare: Type.Number(), escalateCommitteeAfter: Duration, escalateAuthorityAfter: Duration });
const SettingsTickets = Type.Object({ autoCloseAfterHours: Type.Integer() });

export const Settings = Type.Object({
  communityId: Uuid,
  sla: SettingsSla,
  tickets: SettingsTickets,
  defaults: Type.Object({ sla: SettingsSla, tickets: SettingsTickets }),
});

const nullable = <T extends TSchema>(t: T, description: string) => Type.Optional(Type.Union([t, Type.Null()], { description }));

export const PatchSettingsBody = Type.Object(
  {
    sla: Type.Optional(
      Type.Object(
        {
          warnShare: nullable(Type.Number({ minimum: 0.1, maximum: 0.99 }), 'Share of a target at which the assignee is warned (0.1–0.99); null: back to the default'),
          escalateCommitteeAfter: nullable(Duration, 'Past a breach, escalate to the owners’ committee after this; null: back to the default'),
          escalateAuthorityAfter: nullable(Duration, 'Then to the authority after this; null: back to the default'),
        },
        { additionalProperties: false },
      ),
    ),
    tickets: Type.Optional(
      Type.Object(
        { autoCloseAfterHours: nullable(Type.Integer({ minimum: 1, maximum: 720 }), 'A resolved ticket the reporter does not confirm closes after this many hours (1–720); null: back to the default') },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
