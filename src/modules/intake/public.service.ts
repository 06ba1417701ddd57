import type { Db } from '../../db/index.js';
import { notFound } from '../../lib/errors.js';
import { findFacilityByQrToken } from '../facilities/facilities.service.js';
import { createTicket } from '../tickets/tickets.service.js';

/**
 * Tokens are 18 random bytes in base64url (newQrToken); anything that cannot be one is answered
 * exactly like an unknown token, without a query, so the answer never tells which tokens exist.
 */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,64}$/;

/** The same answer for a malformed, unknown or retired token. */
const noSuchFacility = () => notFound('Facility');

async function facilityByToken(db: Db, qrToken: string) {
  if (!TOKEN_SHAPE.test(qrToken)) throw noSuchFacility();
  const facility = await findFacilityByQrToken(db, qrToken);
  // A decommissioned facility's code no longer takes reports.
  if (!facility || facility.status === 'decommissioned') throw noSuchFacility();
  return facility;
}

/** What the public report form shows: where the facility is, nothing more. */
export async function publicFacilityInfo(db: Db, qrToken: string) {
  const facility = await facilityByToken(db, qrToken);
  const community = await db.selectFrom('communities').select(['name']).where('id', '=', facility.community_id).executeTakeFirstOrThrow();
  return {
    communityName: community.name,
    facility: { name: facility.name, category: facility.category, location: facility.location },
  };
}

export interface PublicReportInput {
  description: string;
  reporterName: string;
  reporterPhone: string;
  title?: string;
}

/** Phone numbers are kept as digits with an optional leading +: spaces and dashes are layout. */
export const normalisePhone = (phone: string) => phone.trim().replace(/[\s-]+/g, '');

/**
 * A fault report from the facility's QR code: a P3 'fault' ticket on the QR channel, public
 * (a common facility), routed, SLA-timed and audited (actor: nobody) like any other.
 */
export async function submitPublicReport(db: Db, qrToken: string, input: PublicReportInput) {
  const facility = await facilityByToken(db, qrToken);
  const description = input.description.trim();
  const title = input.title?.trim() || defaultTitle(facility.name, description);
  return db.transaction().execute((trx) =>
    createTicket(trx, null, {
      communityId: facility.community_id,
      kind: 'fault',
      channel: 'qr',
      priority: 'P3',
      title,
      description,
      facilityId: facility.id,
      reporterName: input.reporterName.trim(),
      reporterPhone: normalisePhone(input.reporterPhone),
      isPublic: true,
    }),
  );
}

function defaultTitle(facilityName: string, description: string): string {
  const firstLine = [...(description.split('\n')[0] ?? '')].slice(0, 60).join('');
  return [...`${facilityName}: ${firstLine}`].slice(0, 200).join('').trim();
}
