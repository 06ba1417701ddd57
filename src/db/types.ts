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
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}
