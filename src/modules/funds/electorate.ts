/**
 * The electorate of a fund vote, fixed when voting opens (pure: no I/O).
 *
 * Law (DESIGN.md "Law for fund use"):
 * - Civil Code art. 278 counts owners twice: by exclusive area and by headcount.
 * - Supreme People's Court interpretation on building ownership (最高人民法院关于审理建筑物区分所有权
 *   纠纷案件适用法律若干问题的解释), art. 8: the area is the registered area of the exclusive part
 *   (else surveyed, else contract area) — here the unit's `areaCentiM2`, an integer in hundredths
 *   of m². Art. 9: the headcount is the number of exclusive parts, one part one person, except
 *   that (a) all the parts a developer has not sold, or sold but not yet delivered, count as one
 *   person together, and (b) one buyer owning several parts counts as one person.
 *
 * How that becomes voter groups ("owner-persons"), one ballot each:
 * - Owners are linked when they hold a unit together; a voter is a connected component of that
 *   relation, carrying every unit its owners hold in scope. So a person with several units is
 *   one voter (rule b), and the co-owners of one unit are one voter (one part, one person): any
 *   of them may cast that voter's single ballot, which covers all the group's units.
 * - If a person owns unit A alone and co-owns unit B with someone else, A and B and both people
 *   form one voter. Counting the person once (rule b) and B once (one part one person) cannot be
 *   satisfied by separate voters without counting someone twice, so the group is merged; this
 *   can only lower the headcount, never count a person or a part twice.
 * - Every developer owner record is mapped to one developer node, so all developer-held units
 *   form one voter (rule a), key `developer`. A unit is developer-held when any of its owners is a
 *   developer (the developer still holds it: not sold or not delivered); a natural person listed
 *   on such a unit alongside the developer is joined to the developer voter by the co-owner rule.
 * - A unit with no recorded owner is still an exclusive part: it is its own voter (key
 *   `unit:<unitId>`, no owner ids) so that the denominators are not understated; nobody can cast
 *   its ballot until its owner is recorded (and the electorate is fixed when voting opens).
 * - Voter keys are deterministic: `developer`, `owner:<smallest owner id of the group>` or
 *   `unit:<unitId>`. Voters are returned sorted by key; their owner and unit ids sorted too.
 */

export interface ScopeOwner {
  ownerId: string;
  isDeveloper: boolean;
}

export interface ScopeUnit {
  unitId: string;
  /** Registered area of the exclusive part, hundredths of m² (a positive safe integer). */
  areaCentiM2: number;
  owners: readonly ScopeOwner[];
}

export type VoterKind = 'owner' | 'developer' | 'unowned';

export interface Voter {
  voterKey: string;
  kind: VoterKind;
  ownerIds: string[];
  unitIds: string[];
  /** Sum of the areas of this voter's units in scope, hundredths of m². */
  areaCentiM2: number;
}

export interface Electorate {
  voters: Voter[];
  /** Sum of the areas of all units in scope, hundredths of m². */
  totalArea: number;
  /** Number of voters (owner-persons). */
  totalHeadcount: number;
}

export const DEVELOPER_VOTER_KEY = 'developer';

/** Input that cannot describe a valid electorate (a programming or data error, not a user one). */
export class ElectorateInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElectorateInputError';
  }
}

const DEV_NODE = '\u0000developer';

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Builds the voter groups for the units in scope. Throws ElectorateInputError on an empty scope,
 * a duplicate unit, an area that is not a positive safe integer, or an owner flagged as developer
 * on one unit and not on another.
 */
export function buildElectorate(units: readonly ScopeUnit[]): Electorate {
  if (units.length === 0) throw new ElectorateInputError('The scope has no units');

  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root)!;
    // Path compression.
    let cur = x;
    while (cur !== root) {
      const next = parent.get(cur)!;
      parent.set(cur, root);
      cur = next;
    }
    return root;
  };
  const add = (x: string) => {
    if (!parent.has(x)) parent.set(x, x);
  };
  const union = (a: string, b: string) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };

  const seenUnits = new Set<string>();
  const developerFlag = new Map<string, boolean>();
  let totalArea = 0;

  for (const u of units) {
    if (seenUnits.has(u.unitId)) throw new ElectorateInputError(`Unit ${u.unitId} appears twice in the scope`);
    seenUnits.add(u.unitId);
    if (!Number.isSafeInteger(u.areaCentiM2) || u.areaCentiM2 <= 0) {
      throw new ElectorateInputError(`Unit ${u.unitId} has an invalid area ${String(u.areaCentiM2)} (hundredths of m², positive integer)`);
    }
    totalArea += u.areaCentiM2;
    if (!Number.isSafeInteger(totalArea)) throw new ElectorateInputError('Total area exceeds the safe integer range');

    let first: string | null = null;
    for (const o of u.owners) {
      const flag = developerFlag.get(o.ownerId);
      if (flag !== undefined && flag !== o.isDeveloper) {
        throw new ElectorateInputError(`Owner ${o.ownerId} is flagged as developer inconsistently`);
      }
      developerFlag.set(o.ownerId, o.isDeveloper);
      add(o.ownerId);
      if (o.isDeveloper) {
        add(DEV_NODE);
        union(o.ownerId, DEV_NODE);
      }
      if (first === null) first = o.ownerId;
      else union(first, o.ownerId);
    }
  }

  interface Group {
    hasDeveloper: boolean;
    ownerIds: string[];
    unitIds: string[];
    area: number;
  }
  const groups = new Map<string, Group>();
  const groupOf = (root: string): Group => {
    let g = groups.get(root);
    if (!g) {
      g = { hasDeveloper: false, ownerIds: [], unitIds: [], area: 0 };
      groups.set(root, g);
    }
    return g;
  };
  for (const ownerId of developerFlag.keys()) {
    const g = groupOf(find(ownerId));
    g.ownerIds.push(ownerId);
    if (developerFlag.get(ownerId)) g.hasDeveloper = true;
  }

  const voters: Voter[] = [];
  for (const u of units) {
    const firstOwner = u.owners[0];
    if (!firstOwner) {
      voters.push({ voterKey: `unit:${u.unitId}`, kind: 'unowned', ownerIds: [], unitIds: [u.unitId], areaCentiM2: u.areaCentiM2 });
      continue;
    }
    const g = groupOf(find(firstOwner.ownerId));
    g.unitIds.push(u.unitId);
    g.area += u.areaCentiM2;
  }
  for (const g of groups.values()) {
    const ownerIds = [...g.ownerIds].sort(byCodeUnits);
    voters.push({
      voterKey: g.hasDeveloper ? DEVELOPER_VOTER_KEY : `owner:${ownerIds[0]!}`,
      kind: g.hasDeveloper ? 'developer' : 'owner',
      ownerIds,
      unitIds: [...g.unitIds].sort(byCodeUnits),
      areaCentiM2: g.area,
    });
  }
  voters.sort((a, b) => byCodeUnits(a.voterKey, b.voterKey));
  return { voters, totalArea, totalHeadcount: voters.length };
}

/** ownerId → the voter whose ballot that owner may cast (owners not in scope are absent). */
export function votersByOwner(electorate: Pick<Electorate, 'voters'>): Map<string, Voter> {
  const map = new Map<string, Voter>();
  for (const v of electorate.voters) for (const o of v.ownerIds) map.set(o, v);
  return map;
}
