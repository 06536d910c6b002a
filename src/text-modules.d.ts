/** Shell scripts are bundled as text (esbuild's `text` loader, a Vitest plugin in tests). */
declare module '*.sh' {
  const text: string;
  export default text;
}
