export { dashboardRoutes } from "./routes.js";
export type { DashboardOptions, DashboardRoutes, DashboardSnapshot, DashboardSource, RouteHandler } from "./routes.js";
export { serveRoutes } from "./server.js";
export type { HttpRoutesServer } from "./server.js";
