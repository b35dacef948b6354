/**
 * The live half of lesson 07, run by runLiveLesson() in a child Deno with
 * --allow-ffi and --allow-read: the GC dirty-tracking rounds on this
 * process's real address space, and a written THP scanned with max_pages.
 * Prints one JSON object (LiveLessonResult) on stdout.
 * @module
 */
import { liveProcess } from "../live/process.ts";
import { gcRounds, thpCases } from "./pagemap_scan.ts";

using p = liveProcess();
const gc = gcRounds(p, 64, 4);
console.log(JSON.stringify({ kernel: Deno.osRelease(), gc, thp: thpCases(p) }));
