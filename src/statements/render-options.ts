/** What every statement renderer accepts besides its source and output. */
export interface RenderOptions {
  /**
   * Called after each chunk of lines with the cumulative number of lines written, so a job can
   * report progress; awaited, so a slow progress store slows the render instead of piling up calls.
   */
  onProgress?: (linesDone: number) => void | Promise<void>
}
