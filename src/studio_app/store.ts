/**
 * The project's persistence in IndexedDB (through `idb`): class names and order in one record, every image as its
 * original file (a Blob) with its class, so a reload restores the project as it was. Writes happen on every change.
 */
import { openDB, type IDBPDatabase } from "idb";

export interface StoredClass {
  id: string;
  name: string;
}

export interface StoredImage {
  id: string;
  classId: string;
  name: string;
  blob: Blob;
  /** A small JPEG for the page's lists. */
  thumb?: Blob;
}

export interface StoredProject {
  classes: StoredClass[];
  nextId: number;
}

const DB = "convzoo-studio";
const META = "meta";
const IMAGES = "images";

export class ProjectStore {
  private constructor(private readonly db: IDBPDatabase) {}

  static async open(): Promise<ProjectStore> {
    const db = await openDB(DB, 1, {
      upgrade(d) {
        d.createObjectStore(META);
        d.createObjectStore(IMAGES, { keyPath: "id" });
      },
    });
    return new ProjectStore(db);
  }

  async load(): Promise<{ project: StoredProject | null; images: StoredImage[] }> {
    const project = ((await this.db.get(META, "project")) as StoredProject | undefined) ?? null;
    const images = (await this.db.getAll(IMAGES)) as StoredImage[];
    return { project, images };
  }

  async saveProject(project: StoredProject): Promise<void> {
    await this.db.put(META, project, "project");
  }

  async addImages(images: readonly StoredImage[]): Promise<void> {
    const tx = this.db.transaction(IMAGES, "readwrite");
    await Promise.all([...images.map((i) => tx.store.put(i)), tx.done]);
  }

  async deleteImages(ids: readonly string[]): Promise<void> {
    const tx = this.db.transaction(IMAGES, "readwrite");
    await Promise.all([...ids.map((id) => tx.store.delete(id)), tx.done]);
  }

  async clear(): Promise<void> {
    await this.db.clear(IMAGES);
    await this.db.clear(META);
  }
}
