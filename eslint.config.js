// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "tests/fixtures/**", "**/*.py"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // The formatter (biome.json) wraps code at 140; this catches what it cannot wrap (strings, comments).
    files: ["src/**/*.ts"],
    rules: { "max-len": ["error", { code: 140, ignoreUrls: true }] },
  },
);
