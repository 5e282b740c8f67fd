/** Types for scripts/api-types.mjs (imported by the unit test that checks schema.d.ts). */
export declare function generateTypes(documentText: string): Promise<string>
export declare function firstDifference(a: string, b: string): number
