/** A second process fetching a file (the concurrency test): argv[2] is JSON {url, file, home}; prints the path. */
import { fetchWeights } from "../../src/hub/download.js";

const { url, file, home } = JSON.parse(process.argv[2]) as { url: string; file: string; home: string };
const path = await fetchWeights({ url, file }, { env: { CONVZOO_HOME: home, TORCH_HOME: `${home}/torch` } });
process.stdout.write(path);
