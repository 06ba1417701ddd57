import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Table types for Kysely. Keep in step with migrations/ (which are typed Kysely<any>). */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json = ColumnType<unknown, string | null, string | null>;

export const ORGANIZATION_KINDS = [
  'property_company',
  'owners_committee',
  'property_management_committee',
  'residents_committee',
  'contractor',
  'authority',
  'platform',
] as const;
export type OrganizationKind = (typeof ORGANIZATION_KINDS)[number];

export const MEMBERSHIP_ROLES = ['manager', 'staff', 'member', 'chair', 'viewer'] as const;
export type MembershipRole = (typeof MEMBERSHIP_ROLES)[number];

export const FACILITY_CATEGORIES = [
  'camera',
  'access_control',
  'face_gate',
  'vehicle_barrier',
  'perimeter_alarm',
  'emergency_alarm',
  'smoke_detector',
  'fire_equipment',
  'hydrant_pressure',
  'electrical_safety',
  'elevator',
  'intercom',
  'water_pump',
  'drainage',
  'roof',
  'facade',
  'lighting',
  'other',
] as const;
export type FacilityCategory = (typeof FACILITY_CATEGORIES)[number];

export const FACILITY_STATUSES = ['operational', 'faulty', 'under_repair', 'decommissioned'] as const;
export type FacilityStatus = (typeof FACILITY_STATUSES)[number];

export const DUTY_BASES = ['service_contract', 'fallback_committee', 'delegated_contractor'] as const;
export type DutyBasis = (typeof DUTY_BASES)[number];

export interface OrganizationsTable {
  id: Generated<string>;
  kind: OrganizationKind;
  name: string;
  community_id: string | null;
  district: string | null;
  created_at: CreatedAt;
}

export interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string;
  phone: string | null;
  password_hash: string;
  locale: Generated<'zh-CN' | 'en'>;
  is_platform_admin: Generated<boolean>;
  failed_logins: Generated<number>;
  locked_until: Date | null;
  disabled_at: Date | null;
  created_at: CreatedAt;
}

export interface MembershipsTable {
  id: Generated<string>;
  user_id: string;
  organization_id: string;
  role: MembershipRole;
  created_at: CreatedAt;
}

export interface RefreshTokensTable {
  id: Generated<string>;
  user_id: string;
  family_id: string;
  token_hash: string;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface CommunitiesTable {
  id: Generated<string>;
  name: string;
  district: string;
  address: string | null;
  time_zone: Generated<string>;
  /** Per-community settings (SLA ladder, auto-close…): see src/modules/communities/settings.ts. */
  settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: CreatedAt;
}

export interface DutyAssignmentsTable {
  id: Generated<string>;
  community_id: string;
  organization_id: string;
  facility_category: string | null;
  basis: DutyBasis;
  valid_from: ColumnType<Date, Date | string | undefined, Date | string>;
  valid_to: Timestamp | null;
  created_at: CreatedAt;
}

export interface BuildingsTable {
  id: Generated<string>;
  community_id: string;
  name: string;
  created_at: CreatedAt;
}

export interface UnitsTable {
  id: Generated<string>;
  community_id: string;
  building_id: string;
  number: string;
  area_centi_m2: number;
  first_deposit_cents: Generated<number>;
  created_at: CreatedAt;
}

export interface OwnersTable {
  id: Generated<string>;
  community_id: string;
  name: string;
  phone: string | null;
  email: string | null;
  is_developer: Generated<boolean>;
  user_id: string | null;
  identity_key: string;
  created_at: CreatedAt;
}

export interface UnitOwnersTable {
  unit_id: string;
  owner_id: string;
}

export interface FacilitiesTable {
  id: Generated<string>;
  community_id: string;
  building_id: string | null;
  category: FacilityCategory;
  name: string;
  location: string | null;
  status: Generated<FacilityStatus>;
  qr_token: string;
  created_at: CreatedAt;
}

export interface AuditEventsTable {
  id: Generated<number>;
  chain: string;
  seq: number;
  community_id: string | null;
  actor_user_id: string | null;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: Json;
  after: Json;
  created_at: ColumnType<Date, Date, never>;
  prev_hash: string;
  hash: string;
}

export interface AuditVerificationsTable {
  id: Generated<number>;
  chain: string;
  community_id: string | null;
  ok: boolean;
  events_checked: number;
  first_broken_seq: number | null;
  problem: string | null;
  trigger: string;
  checked_at: CreatedAt;
}

export interface Database {
  organizations: OrganizationsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  refresh_tokens: RefreshTokensTable;
  communities: CommunitiesTable;
  duty_assignments: DutyAssignmentsTable;
  buildings: BuildingsTable;
  units: UnitsTable;
  owners: OwnersTable;
  unit_owners: UnitOwnersTable;
  facilities: FacilitiesTable;
  audit_events: AuditEventsTable;
  audit_verifications: AuditVerificationsTable;
  timers: TimersTable;
  notifications: NotificationsTable;
  business_calendars: BusinessCalendarsTable;
  sla_policies: SlaPoliciesTable;
  tickets: TicketsTable;
  ticket_holds: TicketHoldsTable;
  ticket_comments: TicketCommentsTable;
  ticket_attachments: TicketAttachmentsTable;
  devices: DevicesTable;
  fund_requests: FundRequestsTable;
  fund_request_units: FundRequestUnitsTable;
  fund_budget_lines: FundBudgetLinesTable;
  fund_funding: FundFundingTable;
  fund_request_links: FundRequestLinksTable;
  fund_documents: FundDocumentsTable;
  fund_voters: FundVotersTable;
  fund_ballots: FundBallotsTable;
  fund_objections: FundObjectionsTable;
  unit_ledger_entries: UnitLedgerEntriesTable;
  inspection_plans: InspectionPlansTable;
  inspection_plan_versions: InspectionPlanVersionsTable;
  inspection_tasks: InspectionTasksTable;
  inspection_results: InspectionResultsTable;
  patrol_checkins: PatrolCheckinsTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type Community = Selectable<CommunitiesTable>;
export type Facility = Selectable<FacilitiesTable>;
export type Organization = Selectable<OrganizationsTable>;

export type TimerState = 'pending' | 'enqueued' | 'fired' | 'cancelled';
export interface TimersTable {
  id: Generated<string>;
  kind: string;
  subject_id: string;
  community_id: string | null;
  due_at: Timestamp;
  job_id: string;
  payload: ColumnType<unknown, string | undefined, string>;
  state: Generated<TimerState>;
  enqueued_at: Timestamp | null;
  fired_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  /** The API request that (last) scheduled it; its job logs this (src/lib/request-context.ts). */
  request_id: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type NotificationStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'dead';
export type NotificationChannel = 'email' | 'in_app';
export interface NotificationsTable {
  id: Generated<string>;
  dedupe_key: string;
  community_id: string | null;
  recipient_user_id: string | null;
  recipient_email: string | null;
  channel: NotificationChannel;
  template: string;
  locale: 'zh-CN' | 'en';
  payload: ColumnType<unknown, string | undefined, string>;
  subject: string;
  body_text: string;
  body_html: string | null;
  status: Generated<NotificationStatus>;
  attempts: Generated<number>;
  last_error: string | null;
  lease_until: Timestamp | null;
  enqueued_at: Timestamp | null;
  sent_at: Timestamp | null;
  delivered_via: string | null;
  read_at: Timestamp | null;
  /** The API request that caused it; its send job logs this (src/lib/request-context.ts). */
  request_id: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type Priority = 'P1' | 'P2' | 'P3' | 'P4';
export type TargetUnit = 'minutes' | 'hours' | 'working_days';

export interface BusinessCalendarsTable {
  community_id: string;
  time_zone: string;
  working_hours: ColumnType<Array<{ start: string; end: string }>, string, string>;
  weekend_days: ColumnType<number[], number[] | undefined, number[]>;
  use_china_holidays: Generated<boolean>;
  overrides: ColumnType<Array<{ date: string; kind: 'holiday' | 'workday' }>, string | undefined, string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface SlaPoliciesTable {
  id: Generated<string>;
  community_id: string;
  category: string | null;
  priority: Priority;
  respond_value: number;
  respond_unit: TargetUnit;
  resolve_value: number;
  resolve_unit: TargetUnit;
  calendar: '24x7' | 'working_hours';
  created_at: CreatedAt;
}

export type TicketKind = 'fault' | 'alarm' | 'inspection_finding' | 'rectification';
export type TicketChannel = 'staff' | 'owner' | 'qr' | 'device' | 'inspection' | 'authority';

export interface TicketsTable {
  id: Generated<string>;
  ref: ColumnType<number, never, never>;
  community_id: string;
  kind: TicketKind;
  category: string;
  priority: Priority;
  status: Generated<'new' | 'acknowledged' | 'in_progress' | 'on_hold' | 'resolved' | 'reopened' | 'closed' | 'cancelled'>;
  title: string;
  description: Generated<string>;
  facility_id: string | null;
  unit_id: string | null;
  reporter_user_id: string | null;
  reporter_name: string | null;
  reporter_phone: string | null;
  channel: TicketChannel;
  is_public: Generated<boolean>;
  duty_holder_org_id: string | null;
  assignee_user_id: string | null;
  assignee_org_id: string | null;
  dedupe_key: string | null;
  alarm_count: Generated<number>;
  hold_reason: string | null;
  cancel_reason: string | null;
  opened_at: ColumnType<Date, Date | string | undefined, Date | string>;
  acknowledged_at: Timestamp | null;
  resolved_at: Timestamp | null;
  closed_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  respond_by: Timestamp | null;
  resolve_by: Timestamp | null;
  sla_version: Generated<number>;
  response_breached_at: Timestamp | null;
  resolution_breached_at: Timestamp | null;
  escalation_level: Generated<number>;
  rectification_deadline: Timestamp | null;
  rating: number | null;
  rating_comment: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface TicketHoldsTable {
  id: Generated<string>;
  ticket_id: string;
  /** 'resolved': the time between resolution and reopening, which does not count either. */
  reason: 'awaiting_parts' | 'awaiting_access' | 'awaiting_funds' | 'resolved';
  started_at: Timestamp;
  ended_at: Timestamp | null;
}

export interface TicketCommentsTable {
  id: Generated<string>;
  ticket_id: string;
  author_user_id: string | null;
  body: string;
  internal: Generated<boolean>;
  created_at: CreatedAt;
}

export interface TicketAttachmentsTable {
  id: Generated<string>;
  ticket_id: string;
  storage_key: string;
  original_name: string;
  mime_type: string;
  size_bytes: number;
  sha256: string;
  uploaded_by: string | null;
  created_at: CreatedAt;
}

export interface DevicesTable {
  id: Generated<string>;
  facility_id: string;
  name: string;
  secret_hash: string;
  disabled_at: Timestamp | null;
  created_at: CreatedAt;
}

export const FUND_STATUSES = [
  'draft',
  'voting',
  'passed',
  'rejected',
  'no_quorum',
  'public_notice',
  'emergency_review',
  'approved',
  'in_works',
  'accepted',
  'settled',
  'closed',
  'withdrawn',
] as const;
export type FundStatus = (typeof FUND_STATUSES)[number];
export const EMERGENCY_KINDS = ['roof_leak', 'elevator_danger', 'water_pump_failure', 'facade_falling', 'drainage_failure', 'fire_system_failure'] as const;
export type EmergencyKind = (typeof EMERGENCY_KINDS)[number];
export const FUNDING_SOURCES = ['maintenance_fund', 'government_subsidy', 'street_community', 'property_company', 'contractor_concession', 'other'] as const;
export type FundingSource = (typeof FUNDING_SOURCES)[number];
export const FUND_DOCUMENT_KINDS = ['quote', 'contract', 'plan', 'ballot_scan', 'proxy', 'acceptance', 'invoice', 'notice', 'other'] as const;
export type FundDocumentKind = (typeof FUND_DOCUMENT_KINDS)[number];

export interface FundRequestsTable {
  id: Generated<string>;
  ref: ColumnType<number, never, never>;
  community_id: string;
  title: string;
  description: Generated<string>;
  path: 'normal' | 'emergency';
  emergency_kind: EmergencyKind | null;
  decision_type: 'use_fund' | 'raise_fund' | 'renovation' | 'change_use';
  status: Generated<FundStatus>;
  proposer_user_id: string | null;
  proposer_org_id: string | null;
  contractor_org_id: string | null;
  budget_cents: number;
  approval_mode: Generated<'committee' | 'authority'>;
  vote_opens_at: Timestamp | null;
  vote_closes_at: Timestamp | null;
  notice_days: Generated<number>;
  notice_starts_at: Timestamp | null;
  notice_ends_at: Timestamp | null;
  after_fact_notice_at: Timestamp | null;
  outcome: 'passed' | 'rejected' | 'no_quorum' | null;
  final_tally: ColumnType<unknown, string | null | undefined, string | null>;
  approved_at: Timestamp | null;
  approved_by: string | null;
  filed_with_authority_at: Timestamp | null;
  authority_reviewed_at: Timestamp | null;
  works_reported_at: Timestamp | null;
  accepted_at: Timestamp | null;
  actual_cost_cents: number | null;
  fund_share_cents: number | null;
  settled_at: Timestamp | null;
  closed_at: Timestamp | null;
  withdrawn_at: Timestamp | null;
  withdraw_reason: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface FundRequestUnitsTable {
  request_id: string;
  unit_id: string;
}
export interface FundBudgetLinesTable {
  id: Generated<string>;
  request_id: string;
  position: number;
  description: string;
  amount_cents: number;
}
export interface FundFundingTable {
  request_id: string;
  source: FundingSource;
  amount_cents: number;
}
export interface FundRequestLinksTable {
  request_id: string;
  ticket_id: string | null;
  facility_id: string | null;
}
export interface FundDocumentsTable {
  id: Generated<string>;
  request_id: string;
  kind: FundDocumentKind;
  title: string;
  storage_key: string | null;
  mime_type: string | null;
  size_bytes: number | null;
  sha256: string | null;
  uploaded_by: string | null;
  created_at: CreatedAt;
}
export interface FundVotersTable {
  request_id: string;
  voter_key: string;
  kind: 'owner' | 'developer' | 'unowned';
  owner_ids: string[];
  unit_ids: string[];
  area_centi_m2: number;
}
export interface FundBallotsTable {
  request_id: string;
  voter_key: string;
  choice: 'agree' | 'disagree' | 'abstain';
  channel: 'online' | 'paper' | 'proxy';
  owner_id: string | null;
  entered_by: string;
  scan_document_id: string | null;
  cast_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}
export interface FundObjectionsTable {
  id: Generated<string>;
  request_id: string;
  user_id: string;
  body: string;
  created_at: CreatedAt;
}
export interface UnitLedgerEntriesTable {
  id: Generated<string>;
  unit_id: string;
  community_id: string;
  request_id: string | null;
  kind: 'opening_balance' | 'deposit' | 'debit' | 'top_up' | 'adjustment';
  amount_cents: number;
  note: string | null;
  created_by: string | null;
  created_at: CreatedAt;
}

// Inspections and electronic patrol (migrations/20261123T0200_inspections.ts).
export type InspectionKind = 'inspection' | 'patrol';
export type InspectionTaskStatus = 'scheduled' | 'in_progress' | 'done' | 'missed' | 'cancelled';
export type ChecklistSeverity = 'low' | 'medium' | 'high' | 'critical';
export interface ChecklistItem {
  id: string;
  text: string;
  textEn?: string;
  severity: ChecklistSeverity;
}
export interface ChecklistAnswer {
  itemId: string;
  ok: boolean;
  note?: string;
}
type JsonOf<T> = ColumnType<T, string, string>;
export interface InspectionPlansTable {
  id: Generated<string>;
  community_id: string;
  name: string;
  kind: InspectionKind;
  template: string | null;
  category: string;
  categories: ColumnType<string[], string[] | undefined, string[]>;
  facility_ids: ColumnType<string[], string[] | undefined, string[]>;
  rrule: string;
  dtstart_local: string;
  time_zone: string;
  checklist: JsonOf<ChecklistItem[]>;
  assignee_source: 'duty_holder' | 'explicit';
  assignee_org_id: string | null;
  assignee_user_id: string | null;
  lead_time_minutes: number;
  due_window_minutes: number;
  escalate_after_minutes: number;
  active: Generated<boolean>;
  version: Generated<number>;
  next_occurrence_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_by: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}
export interface InspectionPlanVersionsTable {
  plan_id: string;
  version: number;
  snapshot: Json;
  created_by: string | null;
  created_at: CreatedAt;
}
export interface InspectionTasksTable {
  id: Generated<string>;
  plan_id: string;
  community_id: string;
  kind: InspectionKind;
  category: string;
  plan_version: number;
  occurrence_at: Timestamp;
  available_at: Timestamp;
  due_at: Timestamp;
  status: Generated<InspectionTaskStatus>;
  facility_ids: ColumnType<string[], string[], string[]>;
  progress: Generated<number>;
  assignee_org_id: string | null;
  assignee_user_id: string | null;
  completed_at: Timestamp | null;
  completed_by: string | null;
  on_time: boolean | null;
  missed_at: Timestamp | null;
  escalated_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}
export interface InspectionResultsTable {
  id: Generated<string>;
  task_id: string;
  facility_id: string;
  community_id: string;
  outcome: 'ok' | 'fault';
  notes: string;
  checklist: JsonOf<ChecklistAnswer[]>;
  photo_ids: ColumnType<string[], string[] | undefined, never>;
  ticket_id: string | null;
  recorded_by: string;
  recorded_at: CreatedAt;
}
export interface PatrolCheckinsTable {
  id: Generated<string>;
  community_id: string;
  facility_id: string;
  user_id: string;
  task_id: string | null;
  position: number | null;
  checked_in_at: CreatedAt;
}
