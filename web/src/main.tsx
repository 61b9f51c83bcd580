import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Link, NavLink, Route, Routes, useNavigate } from "react-router-dom";
import { AuthProvider, useAuth } from "./auth";
import { ErrorBox } from "./util";
import BrowsePage from "./pages/Browse";
import ChannelPage from "./pages/Channel";
import { ClipPage, VodPage } from "./pages/Watch";
import { LoginPage, SignupPage } from "./pages/Account";
import FollowingPage from "./pages/Following";
import DashboardPage from "./pages/Dashboard";
import AdminPage from "./pages/Admin";
import "./style.css";

function Header() {
  const { user, logout, error } = useAuth();
  const navigate = useNavigate();
  return (
    <header className="top">
      <Link to="/" className="brand">
        <span className="logo">▶</span> AeThex <b>LIVE</b>
      </Link>
      <nav>
        <NavLink to="/" end>
          Browse
        </NavLink>
        {user && <NavLink to="/following">Following</NavLink>}
        {user && user.role !== "viewer" && <NavLink to="/dashboard">Dashboard</NavLink>}
        {user?.role === "admin" && <NavLink to="/admin">Admin</NavLink>}
      </nav>
      <span className="spacer" />
      {user ? (
        <span className="who">
          <span className="muted">{user.username}</span>
          <button
            className="small"
            onClick={() => {
              void logout().finally(() => navigate("/"));
            }}
          >
            Log out
          </button>
        </span>
      ) : (
        <span className="who">
          <NavLink to="/login">Log in</NavLink>
          <Link to="/signup" className="button small">
            Sign up
          </Link>
        </span>
      )}
      {error && <ErrorBox error={`Session: ${error}`} />}
    </header>
  );
}

function NotFound() {
  return (
    <main className="page">
      <h1>Not found</h1>
      <p>
        Nothing here. <Link to="/">Browse live channels</Link>.
      </p>
    </main>
  );
}

function App() {
  return (
    <AuthProvider>
      <Header />
      <Routes>
        <Route path="/" element={<BrowsePage />} />
        <Route path="/c/:slug" element={<ChannelPage />} />
        <Route path="/watch/vod/:id" element={<VodPage />} />
        <Route path="/watch/clip/:id" element={<ClipPage />} />
        <Route path="/login" element={<LoginPage />} />
        <Route path="/signup" element={<SignupPage />} />
        <Route path="/following" element={<FollowingPage />} />
        <Route path="/dashboard" element={<DashboardPage />} />
        <Route path="/admin" element={<AdminPage />} />
        <Route path="*" element={<NotFound />} />
      </Routes>
    </AuthProvider>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter>
      <App />
    </BrowserRouter>
  </StrictMode>,
);
