import type { SlaDuration } from '../tickets/sla.js';

/**
 * Per-community settings (communities.settings jsonb), with the defaults of DESIGN.md. Pure:
 * stored values are merged over the defaults; unknown keys are ignored.
 */
export interface CommunitySettings {
  sla: {
    /** Share of a target at which the assignee is warned. */
    warnShare: number;
    /** Past a breach, escalate to the owners' committee after this much more working time. */
    escalateCommitteeAfter: SlaDuration;
    /** Then to the authority after this much more. */
    escalateAuthorityAfter: SlaDuration;
  };
  tickets: {
    /** A resolved ticket the reporter does not confirm closes itself after this many hours. */
    autoCloseAfterHours: number;
  };
}

export const DEFAULT_SETTINGS: CommunitySettings = {
  sla: {
    warnShare: 0.75,
    escalateCommitteeAfter: { value: 1, unit: 'working_days' },
    escalateAuthorityAfter: { value: 2, unit: 'working_days' },
  },
  tickets: { autoCloseAfterHours: 72 },
};

export function communitySettings(stored: unknown): CommunitySettings {
  const s = (stored && typeof stored === 'object' ? stored : {}) as { sla?: Partial<CommunitySettings['sla']>; tickets?: Partial<CommunitySettings['tickets']> };
  return {
    sla: { ...DEFAULT_SETTINGS.sla, ...(s.sla ?? {}) },
    tickets: { ...DEFAULT_SETTINGS.tickets, ...(s.tickets ?? {}) },
  };
}
