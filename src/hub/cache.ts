/**
 * Where downloaded weights live: convzoo's own cache, and torch.hub's, which is read so that
 * PyTorch users download nothing twice. Every function takes the environment explicitly (tests
 * and the CLI pass their own); unset and empty variables count alike.
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";

const get = (env: NodeJS.ProcessEnv, name: string): string | undefined => env[name] || undefined;

/** `~` and `~/x` as the shell (and Python's expanduser, which torch.hub uses) read them. */
function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path !== "~" && !path.startsWith("~/")) return resolve(path);
  return join(get(env, "HOME") ?? homedir(), path.slice(1));
}

/** `$XDG_CACHE_HOME`, else `~/.cache`. */
function xdgCacheHome(env: NodeJS.ProcessEnv): string {
  return expandHome(get(env, "XDG_CACHE_HOME") ?? "~/.cache", env);
}

/** `$CONVZOO_HOME`, else `$XDG_CACHE_HOME/convzoo`, else `~/.cache/convzoo`. */
export function convzooHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = get(env, "CONVZOO_HOME");
  return home ? expandHome(home, env) : join(xdgCacheHome(env), "convzoo");
}

/** `<convzooHome>/weights`: one file per checkpoint, under torch.hub's file name. */
export function weightsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(convzooHome(env), "weights");
}

/** torch.hub's `get_dir()/checkpoints`: `$TORCH_HOME/hub/checkpoints`, TORCH_HOME defaulting to `$XDG_CACHE_HOME/torch`. */
export function torchHubCheckpointsDir(env: NodeJS.ProcessEnv = process.env): string {
  const torchHome = get(env, "TORCH_HOME");
  return join(torchHome ? expandHome(torchHome, env) : join(xdgCacheHome(env), "torch"), "hub", "checkpoints");
}
