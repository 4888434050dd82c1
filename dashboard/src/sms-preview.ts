/*
 * The gateway's own segmenting and template code (src/domain), bundled into the dashboard: the
 * preview counts segments and picks the encoding exactly as the API will, because it is the
 * same code, not a copy of it.
 */
export { segmentMessage, type Segmentation } from '../../src/domain/encoding';
export { placeholdersOf, renderTemplate } from '../../src/domain/template';
export { pricePerSegment, roundCost, type PriceTable } from '../../src/domain/pricing';
