/// The technician's status page served at `/`: StatusPage.html beside this file,
/// embedded in the binary when it is built (no file to install, no external assets).
enum StatusPage {
    static let html: [UInt8] = PackageResources.StatusPage_html
}
