// Renders one thumbnail with sharp (libvips). The image's header is read
// first and an image whose frame has more pixels than media.max_image_pixels
// is refused before any pixel is decoded (an "image bomb": a small file that
// decodes to gigabytes); sharp's limitInputPixels enforces the same bound
// again inside the decoder.
import sharp from "sharp";
import { ANIMATABLE_TYPES } from "./content-types.ts";

export class ImageTooLargeError extends Error {
  constructor(pixels: number, limit: number) {
    super(`image has ${pixels} pixels, over the limit of ${limit}`);
    this.name = "ImageTooLargeError";
  }
}

export class UnsupportedImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedImageError";
  }
}

export interface ThumbnailRequest {
  width: number;
  height: number;
  method: "crop" | "scale";
  /** Keep the animation of an animated GIF/WebP (output WebP). */
  animated: boolean;
}

export interface RenderedThumbnail {
  data: Buffer;
  contentType: "image/png" | "image/jpeg" | "image/webp";
  /** True when the output is animated. */
  animated: boolean;
}

export interface ImageHeader {
  width: number;
  height: number;
  pages: number;
}

/** Width, frame height and frame count from the header alone. */
export async function readImageHeader(input: Buffer): Promise<ImageHeader> {
  let meta;
  try {
    meta = await sharp(input, { animated: true, limitInputPixels: false }).metadata();
  } catch (err) {
    throw new UnsupportedImageError(`not a readable image: ${(err as Error).message}`);
  }
  if (!meta.width || !meta.height) throw new UnsupportedImageError("image without dimensions");
  const pages = meta.pages ?? 1;
  const frameHeight = meta.pageHeight ?? meta.height;
  return { width: meta.width, height: frameHeight, pages };
}

export async function renderThumbnail(input: Buffer, sourceType: string, request: ThumbnailRequest, maxPixels: number): Promise<RenderedThumbnail> {
  const header = await readImageHeader(input);
  const framePixels = header.width * header.height;
  if (framePixels > maxPixels) throw new ImageTooLargeError(framePixels, maxPixels);
  // Every frame is decoded for an animated thumbnail: the bound then covers them all.
  const animated = request.animated && ANIMATABLE_TYPES.has(sourceType) && header.pages > 1 && framePixels * header.pages <= maxPixels;
  const limitInputPixels = animated ? framePixels * header.pages : maxPixels;
  let pipeline = sharp(input, { animated, limitInputPixels, failOn: "error" });
  if (!animated) pipeline = pipeline.rotate();
  pipeline = pipeline.resize(request.width, request.height, {
    fit: request.method === "crop" ? "cover" : "inside",
    withoutEnlargement: request.method === "scale",
  });
  try {
    if (animated) return { data: await pipeline.webp({ quality: 80, effort: 2 }).toBuffer(), contentType: "image/webp", animated: true };
    if (sourceType === "image/jpeg") return { data: await pipeline.jpeg({ quality: 80, mozjpeg: false }).toBuffer(), contentType: "image/jpeg", animated: false };
    return { data: await pipeline.png({ compressionLevel: 6 }).toBuffer(), contentType: "image/png", animated: false };
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) throw new ImageTooLargeError(framePixels, maxPixels);
    throw new UnsupportedImageError(`cannot render: ${message}`);
  }
}
