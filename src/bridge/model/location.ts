// Locations: People has no location type, so a Matrix m.location travels as a
// text any People client shows usefully (a description, the geo URI and an
// OpenStreetMap link), and a People text that is nothing but such a location
// comes back to Matrix as m.location. Pure; parse once, here.
//
// geo URIs (RFC 5870): `geo:lat,lon[,alt][;crs=wgs84][;u=meters][;param…]`,
// WGS-84 only (another crs is refused: its numbers are not latitudes).

export interface GeoPoint {
  /** Degrees, −90 … 90. */
  lat: number;
  /** Degrees, −180 … 180. */
  lon: number;
  /** Meters, when given. */
  alt?: number;
  /** Uncertainty in meters, when given. */
  u?: number;
}

export interface Location {
  point: GeoPoint;
  /** What the sender called the place, if anything. */
  description?: string;
}

const MAX_GEO_URI = 256;
const NUM = "-?[0-9]{1,12}(?:\\.[0-9]{1,20})?";
const GEO = new RegExp(
  `^geo:(${NUM}),(${NUM})(?:,(${NUM}))?((?:;[A-Za-z0-9-]{1,32}(?:=[A-Za-z0-9!$&'()*+.:\\[\\]_~%-]{1,64})?){0,8})$`,
  "i",
);

/** The point of a geo URI, or undefined for anything else. */
export function parseGeoUri(input: string): GeoPoint | undefined {
  if (input.length > MAX_GEO_URI) return undefined;
  const m = GEO.exec(input);
  if (!m) return undefined;
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  if (!(Math.abs(lat) <= 90 && Math.abs(lon) <= 180)) return undefined;
  const point: GeoPoint = { lat: clean(lat), lon: clean(lon) };
  if (m[3] !== undefined) point.alt = clean(Number(m[3]));
  const seen = new Set<string>();
  for (const param of (m[4] ?? "").split(";").slice(1)) {
    const [name = "", value] = param.split("=", 2).map((s) => s.toLowerCase());
    if (seen.has(name)) return undefined;
    seen.add(name);
    if (name === "crs" && value !== "wgs84") return undefined;
    if (name === "u") {
      const u = Number(value);
      if (value === undefined || !/^[0-9]{1,12}(?:\.[0-9]{1,20})?$/.test(value) || !Number.isFinite(u))
        return undefined;
      point.u = u;
    }
  }
  return point;
}

/** -0 reads oddly in a URI and compares unequal in tests. */
const clean = (n: number): number => (Object.is(n, -0) ? 0 : n);

/** Plain decimal (never an exponent, which geo URIs do not allow), at most 7 places (about a centimeter). */
function coord(n: number): string {
  const fixed = clean(Number(n.toFixed(7))).toFixed(7);
  return fixed.replace(/\.?0+$/, "");
}

export function formatGeoUri(p: GeoPoint): string {
  const alt = p.alt === undefined ? "" : `,${coord(p.alt)}`;
  const u = p.u === undefined ? "" : `;u=${coord(p.u)}`;
  return `geo:${coord(p.lat)},${coord(p.lon)}${alt}${u}`;
}

/** A map link any browser opens (OpenStreetMap, a marker at the point). */
export function mapLink(p: GeoPoint): string {
  const lat = coord(p.lat);
  const lon = coord(p.lon);
  return `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
}

const MAX_DESCRIPTION = 256;
const PIN = "📍 ";
const MAP_LINK =
  /^https:\/\/www\.openstreetmap\.org\/\?mlat=[-0-9.]+&mlon=[-0-9.]+#map=[0-9]+\/[-0-9.]+\/[-0-9.]+$/;

/** The People text of a location: its description (if any), the geo URI and the map link, a line each. */
export function locationText(loc: Location): string {
  const description = loc.description?.replace(/\s+/g, " ").trim().slice(0, MAX_DESCRIPTION);
  const lines = [formatGeoUri(loc.point), mapLink(loc.point)];
  return (description ? [`${PIN}${description}`, ...lines] : [`${PIN.trim()} Location`, ...lines]).join("\n");
}

/**
 * The location a People text stands for: a text of a geo URI line, with at most one
 * description line before it and at most one OpenStreetMap link after it (what
 * locationText writes, or a bare geo URI). Anything more is a text that mentions a place.
 */
export function parseLocationText(body: string): Location | undefined {
  if (body.length > 2 * MAX_GEO_URI + MAX_DESCRIPTION + 64) return undefined;
  const lines = body
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const at = lines.findIndex((l) => l.toLowerCase().startsWith("geo:"));
  if (at < 0 || at > 1 || lines.length - at > 2) return undefined;
  const point = parseGeoUri(lines[at]!);
  if (!point) return undefined;
  const link = lines[at + 1];
  if (link !== undefined && !MAP_LINK.test(link)) return undefined;
  const first = at === 1 ? lines[0]!.replace(/^📍\s*/u, "").trim() : "";
  const description = first === "" || first === "Location" ? undefined : first.slice(0, MAX_DESCRIPTION);
  return { point, ...(description !== undefined && { description }) };
}
