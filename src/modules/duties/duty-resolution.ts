/**
 * Duty resolution (DESIGN.md "Duty resolution"), pure: the duty holder for (community, facility
 * category, time) is the most specific active assignment; with none, the community's owners'
 * committee, then its property management committee, then its residents' committee. None of
 * those is a duty gap.
 */

export interface AssignmentFact {
  id: string;
  organizationId: string;
  organizationName: string;
  organizationKind: string;
  facilityCategory: string | null;
  basis: 'service_contract' | 'fallback_committee' | 'delegated_contractor';
  validFrom: Date;
  validTo: Date | null;
}

export interface CommitteeFact {
  organizationId: string;
  organizationName: string;
  kind: 'owners_committee' | 'property_management_committee' | 'residents_committee';
}

export type DutyHolder =
  | { source: 'assignment'; organizationId: string; organizationName: string; organizationKind: string; basis: AssignmentFact['basis']; assignmentId: string; facilityCategory: string | null; validTo: Date | null }
  | { source: 'fallback'; organizationId: string; organizationName: string; organizationKind: CommitteeFact['kind'] };

export const FALLBACK_ORDER: CommitteeFact['kind'][] = ['owners_committee', 'property_management_committee', 'residents_committee'];

export function isActive(a: Pick<AssignmentFact, 'validFrom' | 'validTo'>, at: Date): boolean {
  return a.validFrom <= at && (a.validTo === null || a.validTo > at);
}

export function resolveDutyHolder(assignments: AssignmentFact[], committees: CommitteeFact[], category: string | null, at: Date): DutyHolder | null {
  const active = assignments.filter((a) => isActive(a, at));
  const specific = category ? active.filter((a) => a.facilityCategory === category) : [];
  const general = active.filter((a) => a.facilityCategory === null);
  const pool = specific.length > 0 ? specific : general;
  if (pool.length > 0) {
    // Several at the same specificity: the most recently started one holds the duty.
    const chosen = [...pool].sort((x, y) => y.validFrom.getTime() - x.validFrom.getTime() || x.id.localeCompare(y.id))[0] as AssignmentFact;
    return {
      source: 'assignment',
      organizationId: chosen.organizationId,
      organizationName: chosen.organizationName,
      organizationKind: chosen.organizationKind,
      basis: chosen.basis,
      assignmentId: chosen.id,
      facilityCategory: chosen.facilityCategory,
      validTo: chosen.validTo,
    };
  }
  for (const kind of FALLBACK_ORDER) {
    const committee = committees.find((c) => c.kind === kind);
    if (committee) return { source: 'fallback', organizationId: committee.organizationId, organizationName: committee.organizationName, organizationKind: kind };
  }
  return null;
}

/** Which organization kinds may hold a duty on which basis. */
export const BASIS_KINDS: Record<AssignmentFact['basis'], string[]> = {
  service_contract: ['property_company'],
  delegated_contractor: ['contractor'],
  fallback_committee: ['owners_committee', 'property_management_committee', 'residents_committee'],
};
