import { get } from './api.js';

export interface Membership {
  organizationId: string;
  organizationName: string;
  kind: string;
  role: string;
  communityId: string | null;
  district: string | null;
}
export interface Me {
  id: string;
  email: string;
  name: string;
  locale: 'zh-CN' | 'en';
  isPlatformAdmin: boolean;
  memberships: Membership[];
  ownerOf: Array<{ ownerId: string; communityId: string }>;
}
export type Role = 'admin' | 'staff' | 'committee' | 'contractor' | 'authority' | 'owner';

export function rolesOf(me: Me): Role[] {
  const r = new Set<Role>();
  if (me.isPlatformAdmin) r.add('admin');
  for (const m of me.memberships) {
    if (m.kind === 'property_company') r.add('staff');
    else if (m.kind === 'owners_committee' || m.kind === 'property_management_committee' || m.kind === 'residents_committee') r.add('committee');
    else if (m.kind === 'contractor') r.add('contractor');
    else if (m.kind === 'authority') r.add('authority');
  }
  if (me.ownerOf.length > 0) r.add('owner');
  return [...r];
}

export const fetchMe = () => get<Me>('/me');

export interface Community {
  id: string;
  name: string;
  district: string;
  address: string | null;
  timeZone: string;
}

const COMMUNITY_KEY = 'upkeep.community';
export function savedCommunity(): string | null {
  return localStorage.getItem(COMMUNITY_KEY);
}
export function saveCommunity(id: string): void {
  localStorage.setItem(COMMUNITY_KEY, id);
}
